package keyset

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

const payload = `{"iss":"https://issuer.example","sub":"alice"}`

type verifyFixture struct {
	ks    *KeySet
	rsa   any
	ec    any
	valid string
}

// newVerifyFixture serves two RSA keys (kids rsa1, rsa2) and one P-256 key
// (ec1), so that a kid-less RS256 token is ambiguous and a kid-less ES256
// token is not.
func newVerifyFixture(t *testing.T) verifyFixture {
	rk, ek := testRSAKey(t), testECKey(t)
	doc := jwksDoc(t, publicJWK(rk, "rsa1", "RS256"), publicJWK(otherRSAKey(t), "rsa2", ""), publicJWK(ek, "ec1", ""))
	ks, err := New(Options{IssuerName: "test", StaticJWKS: doc, Algorithms: []string{"RS256", "ES256"}})
	if err != nil {
		t.Fatal(err)
	}
	return verifyFixture{ks: ks, rsa: rk, ec: ek, valid: sign(t, rk, jose.RS256, "rsa1", payload, nil)}
}

func TestVerifySignature(t *testing.T) {
	f := newVerifyFixture(t)
	rk := testRSAKey(t)
	pubDER, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	parts := strings.Split(f.valid, ".")
	other := strings.Split(sign(t, f.rsa, jose.RS256, "rsa1", `{"sub":"mallory"}`, nil), ".")

	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"rs256", f.valid, nil},
		{"es256", sign(t, f.ec, jose.ES256, "ec1", payload, nil), nil},
		{"es256 without kid picks the only fit", sign(t, f.ec, jose.ES256, "", payload, nil), nil},
		{"rs256 without kid is ambiguous", sign(t, f.rsa, jose.RS256, "", payload, nil), ErrAmbiguousKey},
		{"alg none", rawToken(`{"alg":"none","kid":"rsa1"}`, payload, ""), ErrAlgorithm},
		{"HS256 keyed with the RSA public key", sign(t, pubPEM, jose.HS256, "rsa1", payload, nil), ErrAlgorithm},
		{"HS256 keyed with the RSA DER", sign(t, pubDER, jose.HS256, "rsa1", payload, nil), ErrAlgorithm},
		{"alg outside allow-list", sign(t, f.rsa, jose.RS384, "rsa1", payload, nil), ErrAlgorithm},
		{"ES256 claimed for an RSA kid", sign(t, f.ec, jose.ES256, "rsa1", payload, nil), ErrAlgorithm},
		{"RS256 for a JWK whose alg is unset but type is EC", sign(t, f.rsa, jose.RS256, "ec1", payload, nil), ErrAlgorithm},
		{"signature over another payload", parts[0] + "." + other[1] + "." + parts[2], ErrSignature},
		{"truncated signature", f.valid[:len(f.valid)-4], ErrSignature},
		{"unknown kid", sign(t, f.rsa, jose.RS256, "nope", payload, nil), ErrUnknownKey},
		{"kid with path chars", sign(t, f.rsa, jose.RS256, "../../etc/passwd", payload, nil), ErrUnknownKey},
		{"unknown crit", sign(t, f.rsa, jose.RS256, "rsa1", payload, map[string]any{"crit": []string{"exp"}, "exp": 1}), ErrCriticalHeader},
		{"b64 crit", sign(t, f.rsa, jose.RS256, "rsa1", payload, map[string]any{"crit": []string{"b64"}, "b64": true}), ErrCriticalHeader},
		{"duplicate payload claim", sign(t, f.rsa, jose.RS256, "rsa1", `{"iss":"a","iss":"b"}`, nil), ErrMalformed},
		{"payload not an object", sign(t, f.rsa, jose.RS256, "rsa1", `["iss"]`, nil), ErrMalformed},
		{"duplicate header", rawToken(`{"alg":"RS256","kid":"rsa1","kid":"rsa2"}`, payload, "x"), ErrMalformed},
		{"JWE", "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", ErrMalformed},
		{"JSON serialization", `{"payload":"e30","protected":"e30","signature":"AA"}`, ErrMalformed},
		{"garbage", "not a token", ErrMalformed},
		{"empty", "", ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.ks.VerifySignature(context.Background(), tc.token)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got error %v, want %v", err, tc.want)
			}
			if err == nil && string(got) != payload {
				t.Fatalf("got payload %s, want %s", got, payload)
			}
			if err != nil && got != nil {
				t.Fatalf("got payload %s with error %v, want none", got, err)
			}
		})
	}
}

// TestHeadersNeverFetched puts jku, x5u and an attacker's embedded jwk in the
// header; the server they name must see no request, and the attacker's key
// must not verify.
func TestHeadersNeverFetched(t *testing.T) {
	f := newVerifyFixture(t)
	attacker := testECKey(t)
	spy := newJWKSServer(t, jwksDoc(t, publicJWK(attacker, "ec1", "ES256")))
	headers := map[string]any{
		"jku": spy.URL + "/jwks",
		"x5u": spy.URL + "/cert.pem",
	}
	withJWK := map[string]any{"jku": spy.URL + "/jwks", "jwk": publicJWK(attacker, "ec1", "ES256")}

	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"honest token with jku/x5u still verifies with our key", sign(t, f.rsa, jose.RS256, "rsa1", payload, headers), nil},
		{"attacker token with jku", sign(t, attacker, jose.ES256, "ec1", payload, headers), ErrSignature},
		{"attacker token with embedded jwk", sign(t, attacker, jose.ES256, "ec1", payload, withJWK), ErrSignature},
		{"attacker kid only in jku set", sign(t, attacker, jose.ES256, "spy-only", payload, headers), ErrUnknownKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.ks.VerifySignature(context.Background(), tc.token)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got error %v, want %v", err, tc.want)
			}
		})
	}
	if got := spy.hits.Load(); got != 0 {
		t.Fatalf("got %d requests to the jku/x5u server, want 0", got)
	}
}

func TestKeyRejectsDisallowedAlg(t *testing.T) {
	f := newVerifyFixture(t)
	for _, alg := range []string{"none", "HS256", "RS512", ""} {
		if _, err := f.ks.Key(context.Background(), "rsa1", alg); !errors.Is(err, ErrAlgorithm) {
			t.Errorf("alg %q: got error %v, want %v", alg, err, ErrAlgorithm)
		}
	}
}
