// Package route picks the one issuer that may verify a token, before any
// cryptography: it reads the unverified header and iss claim, and rejects
// tokens whose shape is wrong while that is still cheap.
package route

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// MaxTokenBytes bounds the tokens Peek looks at. Kubernetes service-account
// tokens are about 1 KiB and large OIDC ID tokens a few KiB.
const MaxTokenBytes = 16 << 10

var (
	// ErrNotJWT means the token does not look like a JWT at all; the caller
	// may hand it to a default upstream for opaque tokens.
	ErrNotJWT = errors.New("not a JWT")
	// ErrEncrypted is returned for five-segment JWE tokens.
	ErrEncrypted = errors.New("encrypted tokens are not supported")
	// ErrMalformed wraps every other reason a JWT-shaped token is refused.
	ErrMalformed = errors.New("malformed token")

	// errTooLarge is built once so that refusing a huge token allocates
	// nothing.
	errTooLarge = fmt.Errorf("%w: larger than %d bytes", ErrMalformed, MaxTokenBytes)
)

// Header is what routing may know about a token. None of it is verified.
type Header struct {
	Alg  string
	Kid  string
	Typ  string
	Crit []string
	// JKU and X5U are reported so callers can log or refuse them; nothing in
	// tokenfed ever fetches them.
	JKU string
	X5U string
	// Issuer is the payload's iss claim, untrusted until verified.
	Issuer string
}

// Peek parses a compact JWS without verifying it.
//
// A token is JWT-shaped when it has at least three segments and its first
// segment is base64 of a JSON object: optional JSON whitespace, then '{'.
// Anything else is ErrNotJWT. A JWT-shaped token must then be exactly three
// non-empty segments of canonical unpadded base64url, a header object with
// a string alg, and a payload object, each without member names that
// collide (see objectFields). Refusing every other spelling means one token
// has exactly one spelling, so it cannot dodge a cache or a deny list by
// re-encoding, and a token meant for one issuer is never mistaken for an
// opaque one.
//
// Whitespace before a header's or payload's '{' is valid JSON, and go-jose
// and kube-apiserver verify such a token, so Peek routes it like any other:
// it is a different token, signed as it is, not a second spelling.
func Peek(token string) (Header, error) {
	if len(token) > MaxTokenBytes {
		return Header{}, errTooLarge
	}
	segs := strings.Split(token, ".")
	switch {
	case len(segs) < 3 || !startsObject(segs[0]):
		return Header{}, ErrNotJWT
	case len(segs) == 5:
		return Header{}, ErrEncrypted
	}
	header, payload, err := parseJWS(segs)
	if err != nil {
		return Header{}, err
	}
	h, err := parseHeader(header)
	if err != nil {
		return Header{}, fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	if h.Issuer, err = parseIssuer(payload); err != nil {
		return Header{}, fmt.Errorf("%w: payload: %w", ErrMalformed, err)
	}
	return h, nil
}

// CheckEncoding reports whether token is a compact JWS of at most
// MaxTokenBytes in canonical unpadded base64url whose header and payload
// are JSON objects without colliding member names. Verifiers call it before
// any JSON decoder sees the token: go-jose alone tolerates line breaks and
// non-zero trailing bits, which would give one token many spellings, and
// encoding/json (go-oidc) resolves "aud" and "AUD" to one claim where
// tokenfed's own reads see two.
func CheckEncoding(token string) error {
	if len(token) > MaxTokenBytes {
		return errTooLarge
	}
	_, _, err := parseJWS(strings.Split(token, "."))
	return err
}

// startsObject reports whether seg, decoded leniently (either alphabet,
// padding or not), is JSON whitespace and then '{'. "e" is the common case,
// '{' with nothing before it.
func startsObject(seg string) bool {
	if strings.HasPrefix(seg, "e") {
		return true
	}
	b := bytes.TrimLeft(decodeLenient(nil, seg), jsonSpace)
	return len(b) > 0 && b[0] == '{'
}

// parseJWS decodes the three segments of a compact JWS canonically and
// reads its header and payload objects.
func parseJWS(segs []string) (header, payload fields, err error) {
	if len(segs) != 3 {
		return nil, nil, fmt.Errorf("%w: %d segments", ErrMalformed, len(segs))
	}
	var raw [3][]byte
	for i, s := range segs {
		if raw[i], err = decodeSegment(s); err != nil {
			return nil, nil, fmt.Errorf("%w: segment %d: %w", ErrMalformed, i+1, err)
		}
	}
	if header, err = objectFields(raw[0]); err != nil {
		return nil, nil, fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	if payload, err = objectFields(raw[1]); err != nil {
		return nil, nil, fmt.Errorf("%w: payload: %w", ErrMalformed, err)
	}
	return header, payload, nil
}

// decodeSegment accepts canonical RawURLEncoding only. The decoder alone
// would skip '\r' and '\n' and, without Strict, accept non-zero trailing
// bits; the alphabet check and the re-encoding close both gaps.
func decodeSegment(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	for i := 0; i < len(s); i++ {
		if !isBase64URL(s[i]) {
			return nil, errors.New("not unpadded base64url")
		}
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || base64.RawURLEncoding.EncodeToString(b) != s {
		return nil, errors.New("not canonical base64url")
	}
	return b, nil
}

func isBase64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

func parseHeader(f fields) (Header, error) {
	var h Header
	for name, dst := range map[string]*string{"alg": &h.Alg, "kid": &h.Kid, "typ": &h.Typ, "jku": &h.JKU, "x5u": &h.X5U} {
		if err := f.decode(name, dst); err != nil {
			return Header{}, err
		}
	}
	if err := f.decode("crit", &h.Crit); err != nil {
		return Header{}, err
	}
	if h.Alg == "" {
		return Header{}, errors.New("alg is missing")
	}
	return h, nil
}

func parseIssuer(f fields) (string, error) {
	var iss string
	return iss, f.decode("iss", &iss)
}
