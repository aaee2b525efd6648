package route

import (
	"github.com/tokenfed/tokenfed/pkg/authn/jws"

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
	ErrBearerScheme = fmt.Errorf("%w: token includes the \"Bearer\" scheme; send only the token", jws.ErrMalformed)
	// ErrContainsJWT is a token that is not a compact JWS but contains a
	// JWT's header or payload. It is never opaque: an opaque token goes to
	// the opaque upstream, and a JWT goes only to its own issuer's cluster.
	ErrContainsJWT = fmt.Errorf("%w: token contains a JWT but is not one compact JWS", jws.ErrMalformed)
	// ErrNotB64Token is an opaque token outside RFC 6750's b64token syntax.
	ErrNotB64Token = fmt.Errorf("%w: opaque token is not an RFC 6750 b64token", jws.ErrMalformed)
	// ErrOpaqueTooCostly is an opaque token whose decodings would cost more
	// to search for a JWT than any real opaque token does: it is refused
	// rather than sent on unsearched.
	ErrOpaqueTooCostly = fmt.Errorf("%w: opaque token is too long or repetitive to check for a JWT", jws.ErrMalformed)

	errControl = fmt.Errorf("%w: token contains whitespace, control or non-ASCII characters", jws.ErrMalformed)
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
	if hasControl(token) {
		return "", errControl
	}
	return token, nil
}

// hasControl reports whether s has a byte of at most ' ' or at least 0x7f:
// whitespace, a control character or non-ASCII. Every review, cached or
// not, pays for this loop over a kilobyte of token, so it reads eight bytes
// at a time ("Bit Twiddling Hacks": hasless and hasmore, exact for "any").
func hasControl(s string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if ((x-ones*0x21)&^x|(x+ones)|x)&highs != 0 {
			return true
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return true
		}
	}
	return false
}

func hasBearerScheme(token string) bool {
	const scheme = "bearer"
	if len(token) <= len(scheme) || !strings.EqualFold(token[:len(scheme)], scheme) {
		return false
	}
	c := token[len(scheme)]
	return c == ' ' || c == '\t'
}

// CheckOpaque decides whether a token that jws.Parse called ErrNotJWT may be
// treated as opaque: it must be an RFC 6750 b64token
// (1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=") and must
// not contain a JWT. This is what keeps a mangled JWT of one issuer (two of
// its segments, a re-encoding, a JWS JSON serialization) from ever reaching
// another cluster's upstream.
func CheckOpaque(token string) error {
	sc := newSearch()
	if sc.in(token, maxNesting) {
		switch {
		case sc.exhausted():
			return ErrOpaqueTooCostly
		case hasPrefixFold(token, "bearer"):
			// "Bearer<jwt>", the scheme glued on: say what to fix.
			return ErrBearerScheme
		}
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

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func isBase64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}
