package keyset

import (
	"encoding/base64"
	"github.com/tokenfed/tokenfed/pkg/authn/jws"

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
		{"alg none", rawToken(`{"alg":"none","kid":"rsa1"}`, payload, "x"), jws.ErrAlgorithm},
		{"alg none, empty signature segment", rawToken(`{"alg":"none","kid":"rsa1"}`, payload, ""), jws.ErrMalformed},
		{"HS256 keyed with the RSA public key", sign(t, pubPEM, jose.HS256, "rsa1", payload, nil), jws.ErrAlgorithm},
		{"HS256 keyed with the RSA DER", sign(t, pubDER, jose.HS256, "rsa1", payload, nil), jws.ErrAlgorithm},
		{"alg outside allow-list", sign(t, f.rsa, jose.RS384, "rsa1", payload, nil), jws.ErrAlgorithm},
		{"ES256 claimed for an RSA kid", sign(t, f.ec, jose.ES256, "rsa1", payload, nil), jws.ErrAlgorithm},
		{"RS256 for a JWK whose alg is unset but type is EC", sign(t, f.rsa, jose.RS256, "ec1", payload, nil), jws.ErrAlgorithm},
		{"signature over another payload", parts[0] + "." + other[1] + "." + parts[2], jws.ErrSignature},
		{"truncated signature", parts[0] + "." + parts[1] + "." + truncated(t, parts[2]), jws.ErrSignature},
		{"signature with non-zero trailing bits", parts[0] + "." + parts[1] + "." + trailingBitSet(parts[2]), jws.ErrMalformed},
		{"unknown kid", sign(t, f.rsa, jose.RS256, "nope", payload, nil), ErrUnknownKey},
		{"kid with path chars", sign(t, f.rsa, jose.RS256, "../../etc/passwd", payload, nil), ErrUnknownKey},
		{"unknown crit", sign(t, f.rsa, jose.RS256, "rsa1", payload, map[string]any{"crit": []string{"exp"}, "exp": 1}), jws.ErrCriticalHeader},
		{"b64 crit", sign(t, f.rsa, jose.RS256, "rsa1", payload, map[string]any{"crit": []string{"b64"}, "b64": true}), jws.ErrCriticalHeader},
		{"duplicate payload claim", sign(t, f.rsa, jose.RS256, "rsa1", `{"iss":"a","iss":"b"}`, nil), jws.ErrMalformed},
		{"payload not an object", sign(t, f.rsa, jose.RS256, "rsa1", `["iss"]`, nil), jws.ErrMalformed},
		{"duplicate header", rawToken(`{"alg":"RS256","kid":"rsa1","kid":"rsa2"}`, payload, "x"), jws.ErrMalformed},
		{"JWE", "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", jws.ErrMalformed},
		{"JSON serialization", `{"payload":"e30","protected":"e30","signature":"AA"}`, jws.ErrMalformed},
		{"garbage", "not a token", jws.ErrMalformed},
		{"empty", "", jws.ErrMalformed},
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
		{"attacker token with jku", sign(t, attacker, jose.ES256, "ec1", payload, headers), jws.ErrSignature},
		{"attacker token with embedded jwk", sign(t, attacker, jose.ES256, "ec1", payload, withJWK), jws.ErrSignature},
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
		if _, err := f.ks.Key(context.Background(), "rsa1", alg); !errors.Is(err, jws.ErrAlgorithm) {
			t.Errorf("alg %q: got error %v, want %v", alg, err, jws.ErrAlgorithm)
		}
	}
}

// truncated is the signature segment sig without its last three bytes,
// canonically encoded.
func truncated(t *testing.T, sig string) string {
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(raw[:len(raw)-3])
}

// trailingBitSet re-spells sig, whose length is not a multiple of 4, with
// the lowest unused bit of its last character set: the same bytes to a
// lenient decoder, a second spelling to a strict one.
func trailingBitSet(sig string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, sig[len(sig)-1])
	return sig[:len(sig)-1] + string(alphabet[last|1])
}
