package keyset

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// jwkRuleTests each publish one JWK with kid "a" (unless the JWK says
// otherwise) to an issuer allowing RS256 and ES256 unless algs is set. A kept
// key must verify alg; a dropped one must make the set fail to load with
// exactly want after "no usable keys: 1 key dropped: ", and reason code.
var jwkRuleTests = []struct {
	name string
	jwk  string
	algs []string
	// alg is what a kept key must be found for.
	alg  string
	code string
	want string
}{
	// Kept.
	{name: "RSA with alg and use", jwk: `{<RSA>,"kid":"a","alg":"RS256","use":"sig"}`, alg: "RS256"},
	{name: "RSA without alg or use", jwk: `{<RSA>,"kid":"a"}`, alg: "RS256"},
	{name: "RSA with key_ops verify", jwk: `{<RSA>,"kid":"a","key_ops":["verify"]}`, alg: "RS256"},
	{name: "RSA with exponent 3", jwk: `{"kty":"RSA","n":"<N>","e":"Aw","kid":"a"}`, alg: "RS256"},
	{name: "EC P-256 with ES256", jwk: `{<EC256>,"kid":"a","alg":"ES256"}`, alg: "ES256"},
	{name: "EC P-384 with ES384", jwk: `{<EC384>,"kid":"a","alg":"ES384"}`, algs: []string{"ES384"}, alg: "ES384"},
	{name: "Ed25519 with EdDSA", jwk: `{<ED>,"kid":"a","alg":"EdDSA"}`, algs: []string{"EdDSA"}, alg: "EdDSA"},
	{name: "x5c of the same key", jwk: `{<EC256>,"kid":"a","x5c":["<CERT_EC256>"]}`, alg: "ES256"},
	{name: "unknown members ignored", jwk: `{<RSA>,"kid":"a","ext":true,"x-vendor":{"d":1}}`, alg: "RS256"},

	// Never symmetric, never private.
	{name: "symmetric", jwk: `{"kty":"oct","k":"c2VjcmV0LXNpZ25pbmcta2V5","kid":"a","alg":"HS256"}`,
		code: reasonSymmetric, want: `kid "a": symmetric key (kty oct) refused`},
	{name: "RSA private key", jwk: `{<RSA_PRIVATE>,"kid":"a"}`,
		code: reasonPrivate, want: `kid "a": publishes private key material ("d")`},
	{name: "RSA with only p", jwk: `{<RSA>,"kid":"a","p":"AQAB"}`,
		code: reasonPrivate, want: `kid "a": publishes private key material ("p")`},
	{name: "RSA with null d", jwk: `{<RSA>,"kid":"a","d":null}`,
		code: reasonPrivate, want: `kid "a": publishes private key material ("d")`},
	{name: "EC private key", jwk: `{<EC_PRIVATE>,"kid":"a"}`,
		code: reasonPrivate, want: `kid "a": publishes private key material ("d")`},
	{name: "Ed25519 private key", jwk: `{<ED_PRIVATE>,"kid":"a"}`, algs: []string{"EdDSA"},
		code: reasonPrivate, want: `kid "a": publishes private key material ("d")`},
	{name: "k on an RSA key", jwk: `{<RSA>,"kid":"a","k":"c2VjcmV0"}`,
		code: reasonPrivate, want: `kid "a": publishes private key material ("k")`},

	// Use and key_ops.
	{name: "use enc", jwk: `{<RSA>,"kid":"a","use":"enc"}`, code: reasonUse, want: `kid "a": use "enc" is not sig`},
	{name: "use empty", jwk: `{<RSA>,"kid":"a","use":""}`, code: reasonUse, want: `kid "a": use "" is not sig`},
	{name: "use in capitals", jwk: `{<RSA>,"kid":"a","use":"SIG"}`, code: reasonUse, want: `kid "a": use "SIG" is not sig`},
	{name: "key_ops without verify", jwk: `{<RSA>,"kid":"a","key_ops":["encrypt","wrapKey"]}`,
		code: reasonKeyOps, want: `kid "a": key_ops lacks verify`},
	{name: "key_ops empty", jwk: `{<RSA>,"kid":"a","key_ops":[]}`, code: reasonKeyOps, want: `kid "a": key_ops lacks verify`},

	// Algorithms.
	{name: "alg HS256 on an RSA key", jwk: `{<RSA>,"kid":"a","alg":"HS256"}`,
		code: reasonAlgNotAllowed, want: `kid "a": alg "HS256" not allowed`},
	{name: "alg none", jwk: `{<RSA>,"kid":"a","alg":"none"}`, code: reasonAlgNotAllowed, want: `kid "a": alg "none" not allowed`},
	{name: "alg empty", jwk: `{<RSA>,"kid":"a","alg":""}`, code: reasonAlgNotAllowed, want: `kid "a": alg "" not allowed`},
	{name: "alg valid but outside the allow-list", jwk: `{<RSA>,"kid":"a","alg":"PS256"}`,
		code: reasonAlgNotAllowed, want: `kid "a": alg "PS256" not allowed`},
	{name: "encryption alg", jwk: `{<RSA>,"kid":"a","alg":"RSA-OAEP"}`,
		code: reasonAlgNotAllowed, want: `kid "a": alg "RSA-OAEP" not allowed`},
	{name: "RS256 on an EC key", jwk: `{<EC256>,"kid":"a","alg":"RS256"}`,
		code: reasonAlgMismatch, want: `kid "a": alg "RS256" does not fit EC P-256 key`},
	{name: "ES384 on a P-256 key", jwk: `{<EC256>,"kid":"a","alg":"ES384"}`, algs: []string{"ES256", "ES384"},
		code: reasonAlgMismatch, want: `kid "a": alg "ES384" does not fit EC P-256 key`},
	{name: "ES256 on an RSA key", jwk: `{<RSA>,"kid":"a","alg":"ES256"}`,
		code: reasonAlgMismatch, want: `kid "a": alg "ES256" does not fit RSA key`},
	{name: "EdDSA on an EC key", jwk: `{<EC256>,"kid":"a","alg":"EdDSA"}`, algs: []string{"EdDSA", "ES256"},
		code: reasonAlgMismatch, want: `kid "a": alg "EdDSA" does not fit EC P-256 key`},
	{name: "P-384 key when only ES256 is allowed", jwk: `{<EC384>,"kid":"a"}`,
		code: reasonNoAllowedAlg, want: `kid "a": no allowed algorithm fits EC P-384 key`},
	{name: "Ed25519 key when EdDSA is not allowed", jwk: `{<ED>,"kid":"a"}`,
		code: reasonNoAllowedAlg, want: `kid "a": no allowed algorithm fits Ed25519 key`},
	{name: "RSA key when only ES256 is allowed", jwk: `{<RSA>,"kid":"a"}`, algs: []string{"ES256"},
		code: reasonNoAllowedAlg, want: `kid "a": no allowed algorithm fits RSA key`},

	// Key parameters.
	{name: "RSA 1024", jwk: `{<RSA1024>,"kid":"a","alg":"RS256"}`, code: reasonWeakKey, want: `kid "a": RSA key smaller than 2048 bits`},
	{name: "RSA modulus even", jwk: `{"kty":"RSA","n":"<N_EVEN>","e":"AQAB","kid":"a"}`,
		code: reasonInvalidKey, want: `kid "a": RSA modulus is even`},
	{name: "RSA modulus over go-jose's limit", jwk: `{"kty":"RSA","n":"<N_HUGE>","e":"AQAB","kid":"a"}`,
		code: reasonUnsupported, want: `kid "a": RSA key larger than 4096 bits`},
	{name: "RSA exponent 1", jwk: `{"kty":"RSA","n":"<N>","e":"AQ","kid":"a"}`,
		code: reasonInvalidKey, want: `kid "a": invalid "RSA" key parameters`},
	{name: "RSA exponent even", jwk: `{"kty":"RSA","n":"<N>","e":"AQAA","kid":"a"}`,
		code: reasonInvalidKey, want: `kid "a": RSA exponent is not an odd number from 3 to 2^31-1`},
	{name: "RSA exponent 2^31+1", jwk: `{"kty":"RSA","n":"<N>","e":"gAAAAQ","kid":"a"}`,
		code: reasonInvalidKey, want: `kid "a": RSA exponent is not an odd number from 3 to 2^31-1`},
	{name: "RSA exponent over 64 bits", jwk: `{"kty":"RSA","n":"<N>","e":"AQAAAAAAAAAAAQ","kid":"a"}`,
		code: reasonInvalidKey, want: `kid "a": invalid "RSA" key parameters`},
	{name: "RSA without e", jwk: `{"kty":"RSA","n":"<N>","kid":"a"}`, code: reasonInvalidKey, want: `kid "a": invalid "RSA" key parameters`},
	{name: "EC point off its curve", jwk: `{<EC_OFF_CURVE>,"kid":"a"}`, code: reasonInvalidKey, want: `kid "a": invalid "EC" key parameters`},
	{name: "EC unknown curve", jwk: `{"kty":"EC","crv":"secp256k1","x":"AQ","y":"AQ","kid":"a"}`,
		code: reasonUnsupported, want: `kid "a": unsupported key type "EC"`},
	{name: "X25519 is not a signing key", jwk: `{"kty":"OKP","crv":"X25519","x":"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo","kid":"a"}`,
		algs: []string{"EdDSA"}, code: reasonUnsupported, want: `kid "a": unsupported key type "OKP"`},
	{name: "unknown kty", jwk: `{"kty":"XYZ","kid":"a"}`, code: reasonUnsupported, want: `kid "a": unsupported key type "XYZ"`},
	{name: "x5c of another key", jwk: `{<EC256>,"kid":"a","x5c":["<CERT_OTHER>"]}`,
		code: reasonX5c, want: `kid "a": x5c or x5t does not match the key`},
	{name: "x5t#S256 not of the x5c", jwk: `{<EC256>,"kid":"a","x5c":["<CERT_EC256>"],"x5t#S256":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`,
		code: reasonX5c, want: `kid "a": x5c or x5t does not match the key`},
	{name: "x5c not a certificate", jwk: `{<EC256>,"kid":"a","x5c":["bm90IGEgY2VydA=="]}`,
		code: reasonX5c, want: `kid "a": x5c or x5t does not match the key`},

	// Malformed JWKs, named by position when the kid cannot be read.
	{name: "no kty", jwk: `{"n":"<N>","e":"AQAB","kid":"a"}`, code: reasonInvalidKey, want: `kid "a": invalid "" key parameters`},
	{name: "duplicate member", jwk: `{<RSA>,"kid":"a","alg":"RS256","alg":"HS256"}`, code: reasonMalformed, want: `key 1: malformed JWK: duplicate member`},
	{name: "duplicate kty", jwk: `{<EC256>,"kty":"oct","kid":"a"}`, code: reasonMalformed, want: `key 1: malformed JWK: duplicate member`},
	{name: "not an object", jwk: `"RS256"`, code: reasonMalformed, want: `key 1: malformed JWK: JSON string where object was expected`},
	{name: "null", jwk: `null`, code: reasonMalformed, want: `key 1: malformed JWK: JSON null where object was expected`},
	{name: "kid not a string", jwk: `{<RSA>,"kid":7}`, code: reasonMalformed, want: `key 1: malformed JWK: JSON number where string was expected`},
	{name: "key_ops not a list", jwk: `{<RSA>,"kid":"a","key_ops":"verify"}`, code: reasonMalformed, want: `key 1: malformed JWK: JSON string where array was expected`},
	{name: "kid-less key named by position", jwk: `{<RSA>,"use":"enc"}`, code: reasonUse, want: `key 1: use "enc" is not sig`},
	{name: "long kid is cut", jwk: `{<RSA>,"use":"enc","kid":"0123456789012345678901234567890123456789XXXX"}`,
		code: reasonUse, want: `kid "0123456789012345678901234567890123456789"...: use "enc" is not sig`},
}

func TestJWKRules(t *testing.T) {
	parts := newJWKParts(t)
	for _, tc := range jwkRuleTests {
		t.Run(tc.name, func(t *testing.T) {
			algs := tc.algs
			if algs == nil {
				algs = []string{"RS256", "ES256"}
			}
			doc := `{"keys":[` + parts.fill(t, tc.jwk) + `]}`
			ks, err := New(Options{IssuerName: "test", StaticJWKS: []byte(doc), Algorithms: algs})
			if m := parts.leak(err); m != "" {
				t.Fatalf("got error %q, want one without key material %q", err, m)
			}
			if tc.code == "" {
				checkKept(t, ks, err, tc.alg)
				return
			}
			checkDropped(t, err, tc.code, "no usable keys: 1 key dropped: "+tc.want)
		})
	}
}

func checkKept(t *testing.T, ks *KeySet, err error, alg string) {
	t.Helper()
	if err != nil {
		t.Fatalf("got error %v, want the key kept", err)
	}
	if _, err := ks.Key(context.Background(), "a", alg); err != nil {
		t.Fatalf("Key(a, %s): got error %v, want nil", alg, err)
	}
	if st := ks.Status(); st.KeyCount != 1 || st.Dropped != "" {
		t.Fatalf("got %+v, want 1 key and nothing dropped", st)
	}
}

func checkDropped(t *testing.T, err error, code, want string) {
	t.Helper()
	if err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("got error %v, want one ending in %q", err, want)
	}
	var nu *noUsableKeysError
	if !errors.As(err, &nu) || len(nu.dropped) != 1 || nu.dropped[0].code != code {
		t.Fatalf("got %+v, want one drop with code %q", nu, code)
	}
	if !errors.Is(err, errNoUsableKeys) {
		t.Fatalf("got error %v, want it to match errNoUsableKeys", err)
	}
}
