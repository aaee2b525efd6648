package jws

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"unsafe"
)

// strict decodes unpadded base64url and refuses non-zero trailing bits.
var strict = base64.RawURLEncoding.Strict()

var (
	errEmptySegment = errors.New("empty")
	errAlphabet     = errors.New("not unpadded base64url")
	errNotCanonical = errors.New("not canonical base64url")
)

func decodedLen(s string) int { return base64.RawURLEncoding.DecodedLen(len(s)) }

// appendSegment decodes s, canonical unpadded base64url only, onto buf and
// returns the grown buffer and the decoded bytes. The decoder alone would
// skip '\r' and '\n' and, without Strict, accept non-zero trailing bits;
// the alphabet check and Strict close both gaps, so a segment has one
// spelling. buf has room for every segment: it never reallocates, so the
// slices returned before stay valid.
func appendSegment(buf []byte, s string) ([]byte, []byte, error) {
	if s == "" {
		return buf, nil, errEmptySegment
	}
	for i := 0; i < len(s); i++ {
		if !isBase64URL(s[i]) {
			return buf, nil, errAlphabet
		}
	}
	start := len(buf)
	out, err := strict.AppendDecode(buf, unsafe.Slice(unsafe.StringData(s), len(s)))
	if err != nil {
		return buf, nil, errNotCanonical
	}
	return out, out[start:len(out):len(out)], nil
}

func isBase64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// startsObject reports whether seg, decoded leniently (either alphabet,
// padding or not), is JSON whitespace and then '{'. "e" is the common case,
// '{' with nothing before it.
func startsObject(seg string) bool {
	if strings.HasPrefix(seg, "e") {
		return true
	}
	b := bytes.TrimLeft(DecodeLenient(nil, seg), jsonSpace)
	return len(b) > 0 && b[0] == '{'
}

// jsonSpace is JSON's insignificant whitespace (RFC 8259 §2).
const jsonSpace = " \t\r\n"

// invalid marks a byte outside both base64 alphabets.
const invalid = 0xff

// base64Value maps both base64 alphabets to their 6-bit values.
var base64Value = func() (t [256]byte) {
	for i := range t {
		t[i] = invalid
	}
	for i, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789" {
		t[c] = byte(i)
	}
	t['+'], t['-'] = 62, 62
	t['/'], t['_'] = 63, 63
	return t
}()

// DecodeLenient appends the base64 (either alphabet, either padding)
// decoding of s to dst, up to the first byte outside both alphabets. A
// final partial group is decoded too; its trailing bits are ignored. It
// never fails: it is for finding what a mangled token still holds (and
// whether a segment looks like a JSON object), never for reading a token
// (appendSegment is that).
func DecodeLenient(dst []byte, s string) []byte {
	var acc uint32
	n := 0
	for i := 0; i < len(s); i++ {
		v := base64Value[s[i]]
		if v == invalid {
			break
		}
		acc, n = acc<<6|uint32(v), n+1
		if n == 4 {
			dst = append(dst, byte(acc>>16), byte(acc>>8), byte(acc))
			acc, n = 0, 0
		}
	}
	switch n {
	case 2:
		dst = append(dst, byte(acc>>4))
	case 3:
		dst = append(dst, byte(acc>>10), byte(acc>>2))
	}
	return dst
}
