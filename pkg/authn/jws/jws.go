// Package jws parses and verifies compact JWS tokens (RFC 7515 §7.1), the
// serialization of every Kubernetes service-account token and OIDC ID
// token. It is the one owner of how tokenfed reads a token: routing peeks
// at the parsed header and iss, verifiers check the parsed signature and
// decode the parsed claims, and no step decodes the token again.
//
// Parsing is strict so that one token has exactly one spelling (canonical
// unpadded base64url, no member names that two JSON readers could resolve
// differently) and cheap: one allocation for the decoded segments, none
// per member.
package jws

import (
	"errors"
	"fmt"
	"strings"
)

// MaxTokenBytes bounds the tokens Parse looks at. Kubernetes
// service-account tokens are about 1 KiB and large OIDC ID tokens a few
// KiB.
const MaxTokenBytes = 16 << 10

// LegacyIssuer is the iss of secret-based service-account tokens, which
// every cluster's kube-apiserver mints (pkg/serviceaccount/legacy.go).
const LegacyIssuer = "kubernetes/serviceaccount"

// Errors. Each is short and quotes nothing of the token, so callers may put
// it in a TokenReview status.
var (
	// ErrNotJWT means the token does not look like a JWT at all; the caller
	// may hand it to a default upstream for opaque tokens.
	ErrNotJWT = errors.New("not a JWT")
	// ErrEncrypted is returned for five-segment JWE tokens.
	ErrEncrypted = errors.New("encrypted tokens are not supported")
	// ErrMalformed wraps every other reason a JWT-shaped token is refused.
	ErrMalformed = errors.New("malformed token")
	// ErrCriticalHeader: the header names a JWS extension ("crit", or
	// "b64" for an unencoded payload). RFC 7515 §4.1.11 says a recipient
	// that understands none must reject the token.
	ErrCriticalHeader = errors.New("unsupported critical header")
	// ErrAlgorithm: the header's alg is not on the verifier's allow-list.
	ErrAlgorithm = errors.New("signing algorithm not allowed")
	// ErrSignature: the signature does not verify with the key.
	ErrSignature = errors.New("invalid signature")

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
	// JKU and X5U are reported so callers can log or refuse them; nothing
	// in tokenfed ever fetches them.
	JKU string
	X5U string
	// Issuer is the payload's iss claim, untrusted until verified.
	Issuer string
	// extension says the header has "crit" or "b64" (see
	// ErrCriticalHeader), whatever their values.
	extension bool
}

// Token is a parsed compact JWS. Its byte slices are shared and must not
// be modified.
type Token struct {
	// Raw is the token as parsed.
	Raw    string
	Header Header
	// Claims are the payload's members.
	Claims Object
	// claims is room for a real token's claims: more spill to the heap.
	claims    [claimsRoom]Member
	payload   []byte
	signature []byte
	// signed is the length of the signing input, header.payload.
	signed int
}

// SigningInput is what the signature covers: the first two segments.
func (t *Token) SigningInput() string { return t.Raw[:t.signed] }

// Payload is the decoded payload, a JSON object.
func (t *Token) Payload() []byte { return t.payload }

const (
	claimsRoom = 20
	headerRoom = 8
)

// Parse parses a compact JWS without verifying it.
//
// A token is JWT-shaped when it has at least three segments and its first
// segment is base64 of a JSON object: optional JSON whitespace, then '{'.
// Anything else is ErrNotJWT. A JWT-shaped token must then be exactly three
// non-empty segments of canonical unpadded base64url, a header object with
// a string alg, and a payload object, each without member names that
// collide (see parseObject). Refusing every other spelling means one token
// has exactly one spelling, so it cannot dodge a cache or a deny list by
// re-encoding, and a token meant for one issuer is never mistaken for an
// opaque one.
//
// Whitespace before a header's or payload's '{' is valid JSON, and go-jose
// and kube-apiserver verify such a token, so Parse accepts it like any
// other: it is a different token, signed as it is, not a second spelling.
func Parse(token string) (*Token, error) {
	if len(token) > MaxTokenBytes {
		return nil, errTooLarge
	}
	dot1 := strings.IndexByte(token, '.')
	if dot1 < 0 || !startsObject(token[:dot1]) {
		return nil, ErrNotJWT
	}
	dot2 := strings.IndexByte(token[dot1+1:], '.')
	if dot2 < 0 {
		return nil, ErrNotJWT
	}
	dot2 += dot1 + 1
	if n := 3 + strings.Count(token[dot2+1:], "."); n != 3 {
		if n == 5 {
			return nil, ErrEncrypted
		}
		return nil, fmt.Errorf("%w: %d segments", ErrMalformed, n)
	}
	t := &Token{Raw: token, signed: dot2}
	if err := t.decode(token[:dot1], token[dot1+1:dot2], token[dot2+1:]); err != nil {
		return nil, err
	}
	return t, nil
}

// decode decodes the three segments into one buffer and reads the header
// and payload objects.
func (t *Token) decode(header, payload, signature string) error {
	buf := make([]byte, 0, decodedLen(header)+decodedLen(payload)+decodedLen(signature))
	var segs [3][]byte
	for i, s := range [3]string{header, payload, signature} {
		var err error
		if buf, segs[i], err = appendSegment(buf, s); err != nil {
			return fmt.Errorf("%w: segment %d: %w", ErrMalformed, i+1, err)
		}
	}
	t.payload, t.signature = segs[1], segs[2]
	var room [headerRoom]Member
	headerMembers, err := parseMembers(segs[0], room[:0])
	if err != nil {
		return fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	if err := t.Claims.parse(segs[1], t.claims[:0]); err != nil {
		return fmt.Errorf("%w: payload: %w", ErrMalformed, err)
	}
	h, err := readHeader(Object{headerMembers})
	if err != nil {
		return fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	if h.Issuer, err = t.Claims.String("iss"); err != nil {
		return fmt.Errorf("%w: payload: %w", ErrMalformed, err)
	}
	t.Header = h
	return nil
}
