package jws

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	_ "crypto/sha256" // crypto.SHA256.New
	_ "crypto/sha512" // crypto.SHA384.New, crypto.SHA512.New
	"math/big"
	"strings"
	"testing"
)

// esKey is a test key per ECDSA algorithm, with its hash.
type esKey struct {
	key  *ecdsa.PrivateKey
	hash crypto.Hash
}

func newESKey(t testing.TB, curve elliptic.Curve, hash crypto.Hash) esKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return esKey{k, hash}
}

// sign returns a compact JWS over header and payload whose s is high or low
// as asked: both (r, s) and (r, n-s) verify.
func (k esKey) sign(t testing.TB, header, payload string, high bool) string {
	t.Helper()
	input := enc([]byte(header)) + "." + enc([]byte(payload))
	h := k.hash.New()
	h.Write([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, k.key, h.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	n := k.key.Curve.Params().N
	if (s.Cmp(new(big.Int).Rsh(n, 1)) > 0) != high {
		s.Sub(n, s)
	}
	size := (k.key.Curve.Params().BitSize + 7) / 8
	sig := make([]byte, 2*size)
	r.FillBytes(sig[:size])
	s.FillBytes(sig[size:])
	return input + "." + enc(sig)
}

// verifies reports whether token's signature verifies with k.
func (k esKey) verifies(token string) bool {
	dot := strings.LastIndexByte(token, '.')
	sig, err := decodeSegment(token[dot+1:])
	if err != nil {
		return false
	}
	h := k.hash.New()
	h.Write([]byte(token[:dot]))
	half := len(sig) / 2
	return ecdsa.Verify(&k.key.PublicKey, h.Sum(nil), new(big.Int).SetBytes(sig[:half]), new(big.Int).SetBytes(sig[half:]))
}

func TestCanonicalSignature(t *testing.T) {
	es256 := newESKey(t, elliptic.P256(), crypto.SHA256)
	es384 := newESKey(t, elliptic.P384(), crypto.SHA384)
	es512 := newESKey(t, elliptic.P521(), crypto.SHA512)
	const claims = `{"iss":"https://a.example","sub":"x"}`
	const legacy = `{"iss":"kubernetes/serviceaccount","sub":"system:serviceaccount:ns:sa"}`
	type want int
	const (
		unchanged want = iota
		lowered
	)
	tests := []struct {
		name  string
		key   esKey
		token string
		want  want
	}{
		{"ES256, low s", es256, es256.sign(t, `{"alg":"ES256"}`, claims, false), unchanged},
		{"ES256, high s", es256, es256.sign(t, `{"alg":"ES256","kid":"k"}`, claims, true), lowered},
		{"ES384, high s", es384, es384.sign(t, `{"alg":"ES384"}`, claims, true), lowered},
		{"ES512, high s", es512, es512.sign(t, `{"alg":"ES512"}`, claims, true), lowered},
		{"ES256 whose JSON starts with whitespace, high s", es256, es256.sign(t, ` {"alg":"ES256"}`, "\n"+claims, true), lowered},
		// kube-apiserver accepts a secret-based token only byte for byte.
		{"secret-based service-account token, high s", es256, es256.sign(t, `{"alg":"ES256"}`, legacy, true), unchanged},
		// The header decides the curve, not the length alone.
		{"EdDSA signature of ES256's length", es256, es256.sign(t, `{"alg":"EdDSA"}`, claims, true), unchanged},
		{"ES384 header, ES256 signature", es256, es256.sign(t, `{"alg":"ES384"}`, claims, true), unchanged},
		{"ES256 only as a value", es256, es256.sign(t, `{"kid":"ES256","alg":"EdDSA"}`, claims, true), unchanged},
		{"nested header, read by a JSON decoder", es256, es256.sign(t, `{"jwk":{"alg":"EdDSA"},"alg":"ES256"}`, claims, true), lowered},
		{"escaped member name", es256, es256.sign(t, `{"\u0061lg":"ES256"}`, claims, true), lowered},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := CanonicalSignature(tc.token)
			if (got != tc.token) != (tc.want == lowered) {
				t.Fatalf("got changed=%v, want %v", got != tc.token, tc.want == lowered)
			}
			if !tc.key.verifies(got) {
				t.Fatalf("got a token that does not verify, want one that does")
			}
			if again := CanonicalSignature(got); again != got {
				t.Fatalf("got a second canonicalisation that changes the token, want it unchanged")
			}
			twin := CanonicalSignature(flipS(t, tc.token, tc.key.key.Curve))
			if tc.want == lowered && twin != got {
				t.Fatalf("got different canonical forms for (r, s) and (r, n-s), want one")
			}
		})
	}
}

// flipS replaces s by n-s in token's signature.
func flipS(t *testing.T, token string, curve elliptic.Curve) string {
	t.Helper()
	dot := strings.LastIndexByte(token, '.')
	sig, err := decodeSegment(token[dot+1:])
	if err != nil {
		t.Fatal(err)
	}
	half := len(sig) / 2
	s := new(big.Int).SetBytes(sig[half:])
	s.Sub(curve.Params().N, s).FillBytes(sig[half:])
	return token[:dot+1] + enc(sig)
}

// TestCanonicalSignatureLeavesOthers: tokens that are not ECDSA-signed JWS
// come back unchanged.
func TestCanonicalSignatureLeavesOthers(t *testing.T) {
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	input := enc([]byte(`{"alg":"EdDSA"}`)) + "." + enc([]byte(pl))
	edToken := input + "." + enc(ed25519.Sign(edKey, []byte(input)))
	n := elliptic.P256().Params().N
	sGeN := make([]byte, 64)
	n.FillBytes(sGeN[32:])
	sig86 := strings.Repeat("A", 86)
	tests := []struct{ name, token string }{
		{"RS256", tok(hdr, pl, enc(make([]byte, 256)))},
		{"EdDSA", edToken},
		{"s not below n", tok(`{"alg":"ES256"}`, pl, enc(sGeN))},
		{"non-canonical signature encoding", tok(`{"alg":"ES256"}`, pl, sig86[:85]+"B")},
		{"opaque token with a dot", "abc." + sig86},
		{"four segments", tok(`{"alg":"ES256"}`, pl, "x.") + sig86},
		{"signature segment alone", "." + sig86},
		{"empty", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := CanonicalSignature(tc.token); got != tc.token {
				t.Fatalf("got a changed token, want it unchanged")
			}
		})
	}
}

// TestCanonicalSignatureRS256IsFree: the cached path of every RSA token
// goes through CanonicalSignature; it must not allocate.
func TestCanonicalSignatureRS256IsFree(t *testing.T) {
	token := tok(hdr, pl, enc(make([]byte, 256)))
	if allocs := testing.AllocsPerRun(100, func() { CanonicalSignature(token) }); allocs != 0 {
		t.Fatalf("got %v allocations, want 0", allocs)
	}
}

func BenchmarkCanonicalSignature(b *testing.B) {
	es256 := newESKey(b, elliptic.P256(), crypto.SHA256)
	for _, bc := range []struct{ name, token string }{
		{"RS256", tok(hdr, pl, enc(make([]byte, 256)))},
		{"ES256 low s", es256.sign(b, `{"alg":"ES256"}`, pl, false)},
		{"ES256 high s", es256.sign(b, `{"alg":"ES256"}`, pl, true)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				CanonicalSignature(bc.token)
			}
		})
	}
}

func decodeSegment(s string) ([]byte, error) {
	_, b, err := appendSegment(nil, s)
	return b, err
}
