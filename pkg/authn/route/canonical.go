package route

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrEmpty is a token that is empty once surrounding whitespace is gone.
	ErrEmpty = errors.New("token is empty")
	// ErrBearerScheme is a token sent with its HTTP authentication scheme.
	// kube-apiserver's TokenReview does not strip it either; tokenfed says
	// why instead of answering "not a JWT".
	ErrBearerScheme = fmt.Errorf("%w: token includes the \"Bearer\" scheme; send only the token", ErrMalformed)
	// ErrContainsJWT is a token that is not a compact JWS but contains a
	// JWT's header or payload. It is never opaque: an opaque token goes to
	// the opaque upstream, and a JWT goes only to its own issuer's cluster.
	ErrContainsJWT = fmt.Errorf("%w: token contains a JWT but is not one compact JWS", ErrMalformed)
	// ErrNotB64Token is an opaque token outside RFC 6750's b64token syntax.
	ErrNotB64Token = fmt.Errorf("%w: opaque token is not an RFC 6750 b64token", ErrMalformed)

	errControl = fmt.Errorf("%w: token contains whitespace, control or non-ASCII characters", ErrMalformed)
)

// Canonical returns the one spelling of token that routing, verification
// and the cache key see: surrounding whitespace removed, as kube-apiserver's
// bearer-token authenticator does (strings.TrimSpace in
// k8s.io/apiserver/pkg/authentication/request/bearertoken), so a token file
// ending in a newline works as it does there. Whitespace, control or
// non-ASCII characters inside, and a leading "Bearer " scheme, are refused:
// they are never part of a token, and stripping them would give one token
// several spellings.
func Canonical(token string) (string, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return "", ErrEmpty
	}
	if hasBearerScheme(token) {
		return "", ErrBearerScheme
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c >= 0x7f {
			return "", errControl
		}
	}
	return token, nil
}

func hasBearerScheme(token string) bool {
	const scheme = "bearer"
	if len(token) <= len(scheme) || !strings.EqualFold(token[:len(scheme)], scheme) {
		return false
	}
	c := token[len(scheme)]
	return c == ' ' || c == '\t'
}

// CheckOpaque decides whether a token that Peek called ErrNotJWT may be
// treated as opaque: it must be an RFC 6750 b64token
// (1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=") and must
// not contain a JWT. This is what keeps a mangled JWT of one issuer (two of
// its segments, a re-encoding, a JWS JSON serialization) from ever reaching
// another cluster's upstream.
func CheckOpaque(token string) error {
	if ContainsJWT(token) {
		return ErrContainsJWT
	}
	if !isB64Token(token) {
		return ErrNotB64Token
	}
	return nil
}

func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !isBase64URL(c) && c != '.' && c != '~' && c != '+' && c != '/' {
			return false
		}
	}
	return true
}

// maxNesting bounds how often ContainsJWT decodes a base64 run to look
// inside it (a JWT base64-encoded once more).
const maxNesting = 2

// ContainsJWT reports whether s contains the base64 (standard or URL
// alphabet, padded or not) encoding of a JSON object that starts like a
// JOSE header or JWT claims set: '{', optional whitespace, then '"'. Every
// JWT segment but the signature is such an encoding, and a standalone
// encoding always starts with "ey" or "ew", wherever it sits in s. A run of
// base64 that decodes to text is searched again, so a JWT encoded once more
// is found too.
func ContainsJWT(s string) bool {
	return containsJWT(s, maxNesting)
}

func containsJWT(s string, depth int) bool {
	for _, run := range base64Runs(s) {
		if hasEncodedObject(run) {
			return true
		}
		if depth > 0 && len(run) >= 8 {
			if text, ok := decodeText(run); ok && containsJWT(text, depth-1) {
				return true
			}
		}
	}
	return false
}

// base64Runs splits s into maximal runs of base64 characters of either
// alphabet; '=' padding, '.', and everything else separate runs.
func base64Runs(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return !(r < 0x80 && (isBase64URL(byte(r)) || r == '+' || r == '/'))
	})
}

// hasEncodedObject finds an encoded object anywhere in run. At the start of
// a run it also ignores letter case: a token that was upper-, lower- or
// swap-cased is no longer valid, but its claims are still readable, so it
// must not be handed to another cluster either.
func hasEncodedObject(run string) bool {
	if foldedObjectStart(run) {
		return true
	}
	for i := 0; i+1 < len(run); i++ {
		if run[i] == 'e' && (run[i+1] == 'y' || run[i+1] == 'w') && startsJSONObject(run[i:]) {
			return true
		}
	}
	return false
}

// objectPrefixLen is how much of a candidate is decoded: 12 characters, 9
// bytes, enough for '{"' and a member name, and long enough that random
// opaque tokens match about once in 10^8 positions, not once in 10^4.
const objectPrefixLen = 12

// startsJSONObject decodes the first objectPrefixLen characters of s and
// checks for '{', optional whitespace, '"', then printable text. A JWT
// header or payload segment is always longer than that.
func startsJSONObject(s string) bool {
	if len(s) < objectPrefixLen {
		return false
	}
	b, err := base64.RawStdEncoding.DecodeString(toStdAlphabet(s[:objectPrefixLen]))
	if err != nil || b[0] != '{' {
		return false
	}
	rest := bytes.TrimLeft(b[1:], " \t\n\r")
	if len(rest) == 0 || rest[0] != '"' {
		return false
	}
	for _, c := range rest[1:] {
		if (c < ' ' || c > '~') && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// foldedStarts are the first 8 characters of JOSE headers and JWT claims
// sets that begin with a registered or Kubernetes member name, folded to
// lower case. Matching them without regard to case finds a re-cased token
// while leaving random opaque tokens alone (a chance of 32^-8 per run).
var foldedStarts = func() map[string]bool {
	m := map[string]bool{}
	for _, name := range []string{"alg", "typ", "kid", "cty", "jku", "jwk", "x5u", "x5c", "x5t", "crit", "enc", "zip",
		"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "azp", "nonce", "email", "name", "groups", "kubernetes.io"} {
		doc := `{"` + name + `"`
		m[strings.ToLower(base64.RawURLEncoding.EncodeToString([]byte(doc[:6]))[:8])] = true
	}
	return m
}()

func foldedObjectStart(run string) bool {
	return len(run) >= objectPrefixLen && foldedStarts[strings.ToLower(run[:8])]
}

// decodeText decodes a whole run as base64 and returns it when it is
// printable ASCII, the shape of a base64-encoded token.
func decodeText(run string) (string, bool) {
	if len(run)%4 == 1 {
		run = run[:len(run)-1]
	}
	b, err := base64.RawStdEncoding.DecodeString(toStdAlphabet(run))
	if err != nil {
		return "", false
	}
	for _, c := range b {
		if c < ' ' || c >= 0x7f {
			return "", false
		}
	}
	return string(b), true
}

func toStdAlphabet(s string) string {
	return strings.NewReplacer("-", "+", "_", "/").Replace(s)
}
