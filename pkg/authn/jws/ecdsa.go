package jws

import (
	"bytes"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
)

// ecdsaAlg is one JWS ECDSA algorithm: its signature is r||s, each as long
// as the curve's order (RFC 7518 §3.4).
type ecdsaAlg struct {
	name   string
	sigLen int    // characters of the unpadded base64url signature
	order  []byte // n, big-endian, as long as r and s
	half   []byte // n/2, the largest low s
}

func newECDSAAlg(name string, curve elliptic.Curve) ecdsaAlg {
	size := (curve.Params().BitSize + 7) / 8
	n := curve.Params().N
	a := ecdsaAlg{name: name, sigLen: base64.RawURLEncoding.EncodedLen(2 * size)}
	a.order = n.FillBytes(make([]byte, size))
	a.half = new(big.Int).Rsh(n, 1).FillBytes(make([]byte, size))
	return a
}

var ecdsaAlgs = []ecdsaAlg{
	newECDSAAlg("ES256", elliptic.P256()), // 86 characters
	newECDSAAlg("ES384", elliptic.P384()), // 128
	newECDSAAlg("ES512", elliptic.P521()), // 176
}

// maxSigBytes is the longest ECDSA signature, ES512's r||s.
const maxSigBytes = 132

// CanonicalSignature returns the one spelling of an ECDSA-signed JWS: its
// signature with s in the lower half of the group order. (r, s) and
// (r, n-s) both verify, so anyone holding a token can spell it twice, and
// the cache, coalescing and anything else keyed on the token would see two
// tokens. Refusing high s instead would refuse real tokens: Go's
// crypto/ecdsa, which kube-apiserver signs with, does not produce low s.
//
// Every other token is returned as it is, and costs three byte
// comparisons: only a token whose last segment has an ECDSA signature's
// length is looked at further. Secret-based service-account tokens are
// left alone too: kube-apiserver accepts one only if it is byte for byte the
// token stored in its Secret, so their spelling is the issuer's to choose.
// A token that is not a well-formed JWS is returned as it is, for Parse to
// refuse: a signature in a non-canonical encoding is never rewritten into a
// canonical one. So is one over MaxTokenBytes, unread: Parse refuses it
// whatever its spelling, and reading a header of up to the 1 MiB body limit
// costs milliseconds, on every call (the callers' gate canonicalises a
// token up to three times before its review does).
func CanonicalSignature(token string) string {
	if len(token) > MaxTokenBytes {
		return token
	}
	alg, dot, ok := ecdsaBySigLen(token)
	if !ok {
		return token
	}
	// The signature first: a low s, half of all ECDSA tokens, needs no more.
	var sig [maxSigBytes]byte
	n, ok := decodeCanonical(sig[:], token[dot+1:])
	if !ok || !alg.lowerS(sig[n/2:n]) {
		return token
	}
	first := strings.IndexByte(token, '.')
	if first == dot || !headerAlgIs(token[:first], alg.name) || isLegacy(token[first+1:dot]) {
		return token
	}
	return token[:dot+1] + base64.RawURLEncoding.EncodeToString(sig[:n])
}

// ecdsaBySigLen picks the algorithm whose signature length matches the
// token's last segment: a '.' just before that many trailing characters,
// and no other after it.
func ecdsaBySigLen(token string) (alg ecdsaAlg, dot int, ok bool) {
	for _, a := range ecdsaAlgs {
		dot := len(token) - a.sigLen - 1
		if dot > 0 && token[dot] == '.' && strings.IndexByte(token[dot+1:], '.') < 0 {
			return a, dot, true
		}
	}
	return ecdsaAlg{}, 0, false
}

// maxFlatHeader bounds the headers flatAlg reads from the stack; JOSE
// headers are well under it.
const maxFlatHeader = 192

// headerAlgIs reports whether the encoded header's alg is name. A flat
// header is read without a JSON decoder (flatAlg); any other with
// encoding/json, which reads a well-formed header as Peek does. A header
// whose names collide is refused by Peek whatever its signature, so how it
// is read here does not matter.
func headerAlgIs(seg, name string) bool {
	var buf [maxFlatHeader]byte
	if base64.RawURLEncoding.DecodedLen(len(seg)) <= len(buf) {
		if alg, ok := flatAlg(DecodeLenient(buf[:0], seg)); ok {
			return string(alg) == name
		}
	}
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return false
	}
	var h struct {
		Alg string `json:"alg"`
	}
	return json.Unmarshal(raw, &h) == nil && h.Alg == name
}

// flatAlg reads alg from a header with one '{', no escapes and one "alg":
// there, "alg" can only be the top-level member name, and its value is the
// quoted text after the colon. ok is false for any other header.
func flatAlg(h []byte) (alg []byte, ok bool) {
	if bytes.Count(h, []byte("{")) != 1 || bytes.IndexByte(h, '\\') >= 0 || bytes.Count(h, []byte(`"alg"`)) != 1 {
		return nil, false
	}
	v := bytes.TrimLeft(h[bytes.Index(h, []byte(`"alg"`))+len(`"alg"`):], jsonSpace)
	if len(v) == 0 || v[0] != ':' {
		return nil, false
	}
	v = bytes.TrimLeft(v[1:], jsonSpace)
	if len(v) == 0 || v[0] != '"' {
		return nil, false
	}
	end := bytes.IndexByte(v[1:], '"')
	if end < 0 {
		return nil, false
	}
	return v[1 : 1+end], true
}

// legacyMarks are the base64url encodings of the legacy iss value, quoted,
// at each of the three byte alignments, cut to the characters that depend
// on it alone. kube-apiserver writes the value without escapes; a legacy
// token spelled otherwise is not its, and is canonicalised like any other.
var legacyMarks = func() []string {
	var marks []string
	v := `"` + LegacyIssuer + `"`
	for k, skip := range []int{0, 2, 3} {
		enc := base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("x", k) + v))
		marks = append(marks, enc[skip:4*((k+len(v))/3)])
	}
	return marks
}()

// isLegacy reports whether the encoded payload's iss is LegacyIssuer. Only
// a payload whose encoding holds the quoted value is decoded and parsed.
func isLegacy(seg string) bool {
	found := false
	for _, m := range legacyMarks {
		found = found || strings.Contains(seg, m)
	}
	if !found {
		return false
	}
	var c Object
	_, payload, err := appendSegment(make([]byte, 0, decodedLen(seg)), seg)
	if err != nil || c.parse(payload, nil) != nil {
		return false
	}
	iss, err := c.String("iss")
	return err == nil && iss == LegacyIssuer
}

// decodeCanonical decodes seg into dst if it is canonical unpadded
// base64url, without allocating.
func decodeCanonical(dst []byte, seg string) (int, bool) {
	if base64.RawURLEncoding.DecodedLen(len(seg)) > len(dst) {
		return 0, false
	}
	n := len(DecodeLenient(dst[:0], seg))
	var again [maxSigBytes * 4 / 3]byte
	if n != base64.RawURLEncoding.DecodedLen(len(seg)) {
		return 0, false
	}
	base64.RawURLEncoding.Encode(again[:], dst[:n])
	return n, string(again[:len(seg)]) == seg
}

// lowerS replaces s, in place, by n-s when s is in the upper half of the
// group order. It reports whether it did; an s of n or more is no valid
// signature and is left as it is.
func (a ecdsaAlg) lowerS(s []byte) bool {
	if len(s) != len(a.order) || bytes.Compare(s, a.half) <= 0 || bytes.Compare(s, a.order) >= 0 {
		return false
	}
	borrow := 0
	for i := len(s) - 1; i >= 0; i-- {
		d := int(a.order[i]) - int(s[i]) - borrow
		borrow = 0
		if d < 0 {
			d += 256
			borrow = 1
		}
		s[i] = byte(d)
	}
	return true
}
