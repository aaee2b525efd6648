package jws

import (
	"crypto"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
)

// signedWith returns a compact JWS with header alg and a signature made by
// sign over its signing input.
func signedWith(t *testing.T, alg string, sign func(input []byte) []byte) string {
	t.Helper()
	input := enc([]byte(`{"alg":"`+alg+`"}`)) + "." + enc([]byte(pl))
	return input + "." + enc(sign([]byte(input)))
}

// TestVerifyRefusesEveryMismatch: a key of another type, curve or size
// than the alg names, a signature of the wrong length or scheme, is
// ErrSignature, never a panic and never a pass; the genuine pairs verify.
func TestVerifyRefusesEveryMismatch(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek := newESKey(t, elliptic.P256(), crypto.SHA256)
	ek384 := newESKey(t, elliptic.P384(), crypto.SHA384)
	edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sha := func(b []byte) []byte { d := sha256.Sum256(b); return d[:] }
	rs256 := signedWith(t, "RS256", func(in []byte) []byte {
		s, _ := rsa.SignPKCS1v15(rand.Reader, rk, crypto.SHA256, sha(in))
		return s
	})
	ps256 := signedWith(t, "PS256", func(in []byte) []byte {
		s, _ := rsa.SignPSS(rand.Reader, rk, crypto.SHA256, sha(in), nil)
		return s
	})
	es256 := ek.sign(t, `{"alg":"ES256"}`, pl, false)
	es256High := ek.sign(t, `{"alg":"ES256"}`, pl, true)
	eddsa := signedWith(t, "EdDSA", func(in []byte) []byte { return ed25519.Sign(edPriv, in) })
	relabel := func(token, alg string) string {
		parts := strings.Split(token, ".")
		return enc([]byte(`{"alg":"`+alg+`"}`)) + "." + parts[1] + "." + parts[2]
	}
	resign := func(token string, sig []byte) string {
		return token[:strings.LastIndexByte(token, '.')+1] + enc(sig)
	}
	esSig, _ := decodeSegment(es256[strings.LastIndexByte(es256, '.')+1:])

	for _, tc := range []struct {
		name  string
		token string
		key   crypto.PublicKey
		ok    bool
	}{
		{"RS256", rs256, &rk.PublicKey, true},
		{"PS256", ps256, &rk.PublicKey, true},
		{"ES256", es256, &ek.key.PublicKey, true},
		{"ES256 high s", es256High, &ek.key.PublicKey, true},
		{"EdDSA", eddsa, edPub, true},

		{"RS256 with an EC key", rs256, &ek.key.PublicKey, false},
		{"RS256 with an Ed25519 key", rs256, edPub, false},
		{"RS256 with no key", rs256, nil, false},
		{"PS256 signature labelled RS256", relabel(ps256, "RS256"), &rk.PublicKey, false},
		{"RS256 signature labelled PS256", relabel(rs256, "PS256"), &rk.PublicKey, false},
		{"RS256 signature labelled RS384", relabel(rs256, "RS384"), &rk.PublicKey, false},
		{"RSA key by value", rs256, rk.PublicKey, false},
		{"ES256 with an RSA key", es256, &rk.PublicKey, false},
		{"ES256 with a P-384 key", es256, &ek384.key.PublicKey, false},
		{"ES256 signature labelled ES384", relabel(es256, "ES384"), &ek.key.PublicKey, false},
		{"ES256 r||s one byte short", resign(es256, esSig[:63]), &ek.key.PublicKey, false},
		{"ES256 r||s one byte long", resign(es256, append([]byte{0}, esSig...)), &ek.key.PublicKey, false},
		{"ES256 r and s zero", resign(es256, make([]byte, 64)), &ek.key.PublicKey, false},
		{"ES256 as DER", resign(es256, append([]byte{0x30, 0x44, 0x02, 0x20}, esSig...)), &ek.key.PublicKey, false},
		{"EdDSA with a 31-byte key", eddsa, edPub[:31], false},
		{"EdDSA with a 33-byte key", eddsa, append(ed25519.PublicKey{0}, edPub...), false},
		{"EdDSA with a key pointer", eddsa, &edPub, false},
		{"EdDSA with an RSA key", eddsa, &rk.PublicKey, false},
		{"EdDSA signature one byte short", resign(eddsa, make([]byte, 63)), edPub, false},
		{"unknown alg", relabel(rs256, "HS256"), &rk.PublicKey, false},
		{"alg none", relabel(rs256, "none"), &rk.PublicKey, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parsed, err := Parse(tc.token)
			if err != nil {
				t.Fatal(err)
			}
			err = parsed.Verify(tc.key)
			if tc.ok && err != nil || !tc.ok && !errors.Is(err, ErrSignature) {
				t.Fatalf("got %v, want ok %v", err, tc.ok)
			}
		})
	}
}
