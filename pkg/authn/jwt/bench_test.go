package jwt

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"github.com/tokenfed/tokenfed/pkg/authn/jws"
	"math/big"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	testingclock "k8s.io/utils/clock/testing"
)

// The Verify benchmarks run the whole service-account path (encoding check,
// parse, key lookup, signature, claims, user); the Raw ones only hash the
// signing input and check the signature, as a baseline from the same run.

func benchToken(b *testing.B, key any, alg jose.SignatureAlgorithm, kid string) string {
	payload, _ := json.Marshal(boundClaims())
	return signRaw(b, key, alg, kid, string(payload), nil)
}

func benchVerify(b *testing.B, token string) {
	v, err := NewServiceAccountVerifier(ServiceAccountOptions{
		Issuers: []string{saIssuer}, Audiences: []string{apiAud}, Keys: staticKeySet(b, jws.DefaultServiceAccountAlgorithms...),
		Clock: testingclock.NewFakePassiveClock(now),
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}

// splitSigned returns the SHA-256 of the signing input and the signature.
func splitSigned(b *testing.B, token string) ([32]byte, []byte) {
	i := strings.LastIndexByte(token, '.')
	sig, err := base64.RawURLEncoding.DecodeString(token[i+1:])
	if err != nil {
		b.Fatal(err)
	}
	return sha256.Sum256([]byte(token[:i])), sig
}

func BenchmarkVerifyRS256(b *testing.B) {
	rk, _ := testKeys()
	benchVerify(b, benchToken(b, rk, jose.RS256, "rsa1"))
}

func BenchmarkRawRSAVerify(b *testing.B) {
	rk, _ := testKeys()
	token := benchToken(b, rk, jose.RS256, "rsa1")
	i := strings.LastIndexByte(token, '.')
	_, sig := splitSigned(b, token)
	b.ReportAllocs()
	for b.Loop() {
		h := sha256.Sum256([]byte(token[:i]))
		if err := rsa.VerifyPKCS1v15(&rk.PublicKey, crypto.SHA256, h[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyES256(b *testing.B) {
	_, ek := testKeys()
	benchVerify(b, benchToken(b, ek, jose.ES256, "ec1"))
}

func BenchmarkRawECDSAVerify(b *testing.B) {
	_, ek := testKeys()
	token := benchToken(b, ek, jose.ES256, "ec1")
	i := strings.LastIndexByte(token, '.')
	_, sig := splitSigned(b, token)
	b.ReportAllocs()
	for b.Loop() {
		h := sha256.Sum256([]byte(token[:i]))
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(&ek.PublicKey, h[:], r, s) {
			b.Fatal("signature did not verify")
		}
	}
}

// BenchmarkOIDCVerifyRS256 runs kube-apiserver's JWT authenticator over the
// same key set, with claim mappings and CEL rules.
func BenchmarkOIDCVerifyRS256(b *testing.B) {
	rk, _ := testKeys()
	payload, _ := json.Marshal(idToken(nil))
	token := signRaw(b, rk, jose.RS256, "rsa1", string(payload), nil)
	v := newOIDCVerifier(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}
