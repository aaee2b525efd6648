package jwt

import (
	"github.com/tokenfed/tokenfed/pkg/authn/jws"

	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/tokenfed/tokenfed/pkg/authn/keyset"
)

type attack struct {
	name  string
	token string
	// want is the service-account verifier's error. The OIDC verifier's
	// errors are go-oidc's strings; for it any error will do.
	want error
}

// attacks turns one valid payload into tokens that must all be refused.
// Headers name spy, which must never be contacted.
func attacks(t *testing.T, payload string, spy string) []attack {
	rk, _ := testKeys()
	attacker := testECKeyFresh(t)
	der, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	valid := signRaw(t, rk, jose.RS256, "rsa1", payload, nil)
	seg := strings.Split(valid, ".")
	other := strings.Split(signRaw(t, rk, jose.RS256, "rsa1", strings.Replace(payload, `"`, `"x`, 1), nil), ".")
	remote := map[string]any{"jku": spy + "/jwks", "x5u": spy + "/cert"}
	return []attack{
		{"alg none", rawToken(`{"alg":"none","kid":"rsa1"}`, payload, ""), jws.ErrMalformed},
		{"alg none with a signature", rawToken(`{"alg":"none","kid":"rsa1"}`, payload, "x"), jws.ErrAlgorithm},
		{"HS256 keyed with the RSA public key", signRaw(t, pubPEM, jose.HS256, "rsa1", payload, nil), jws.ErrAlgorithm},
		{"signature from another payload", seg[0] + "." + seg[1] + "." + other[2], jws.ErrSignature},
		{"attacker key", signRaw(t, attacker, jose.ES256, "ec1", payload, nil), jws.ErrSignature},
		{"unknown kid", signRaw(t, rk, jose.RS256, "nope", payload, nil), keyset.ErrUnknownKey},
		{"kid with path chars", signRaw(t, rk, jose.RS256, "../../etc/passwd", payload, nil), keyset.ErrUnknownKey},
		{"attacker key behind jku/x5u", signRaw(t, attacker, jose.ES256, "ec1", payload, remote), jws.ErrSignature},
		{"attacker key embedded as jwk", signRaw(t, attacker, jose.ES256, "", payload, map[string]any{"jwk": jose.JSONWebKey{Key: attacker.Public()}}), jws.ErrSignature},
		{"unknown crit", signRaw(t, rk, jose.RS256, "rsa1", payload, map[string]any{"crit": []string{"urn:x"}, "urn:x": true}), jws.ErrCriticalHeader},
		{"newline in a segment", seg[0] + "." + seg[1][:8] + "\n" + seg[1][8:] + "." + seg[2], jws.ErrMalformed},
		{"padding", valid + "=", jws.ErrMalformed},
		{"standard alphabet", seg[0] + "." + seg[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(seg[2]) + "+/", jws.ErrMalformed},
		{"garbage", "garbage", jws.ErrMalformed},
		{"JWE", seg[0] + ".a.b.c.d", jws.ErrMalformed},
		{"JSON serialization", jsonSerialization(t, valid), jws.ErrMalformed},
		{"1 MiB token", seg[0] + "." + strings.Repeat("A", 1<<20) + "." + seg[2], jws.ErrMalformed},
	}
}

func jsonSerialization(t *testing.T, compact string) string {
	seg := strings.Split(compact, ".")
	b, err := json.Marshal(map[string]string{"protected": seg[0], "payload": seg[1], "signature": seg[2]})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestServiceAccountAttacks(t *testing.T) {
	spy := newSpy(t)
	b, _ := json.Marshal(boundClaims())
	v, err := NewServiceAccountVerifier(ServiceAccountOptions{
		Issuers: []string{saIssuer}, Audiences: []string{apiAud}, Keys: staticKeySet(t, jws.DefaultServiceAccountAlgorithms...),
		Clock: testingclock.NewFakePassiveClock(now),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range attacks(t, string(b), spy.URL) {
		t.Run(a.name, func(t *testing.T) {
			got, err := v.Verify(context.Background(), a.token)
			if err != a.want || got != nil {
				t.Fatalf("got (%v, %v), want error %v", got, err, a.want)
			}
		})
	}
	if got := spy.hits.Load(); got != 0 {
		t.Fatalf("got %d requests to the jku/x5u server, want 0", got)
	}
}

func TestOIDCAttacks(t *testing.T) {
	spy := newSpy(t)
	b, _ := json.Marshal(idToken(nil))
	v := newOIDCVerifier(t)
	for _, a := range attacks(t, string(b), spy.URL) {
		t.Run(a.name, func(t *testing.T) {
			got, err := v.Verify(context.Background(), a.token)
			if err == nil || got != nil {
				t.Fatalf("got (%v, %v), want an error", got, err)
			}
			if len(err.Error()) > maxErrorLen+3 {
				t.Fatalf("got a %d-byte error, want at most %d", len(err.Error()), maxErrorLen+3)
			}
		})
	}
	if got := spy.hits.Load(); got != 0 {
		t.Fatalf("got %d requests to the jku/x5u server, want 0", got)
	}
}

// TestOIDCDuplicateClaims: go-oidc decodes claims with encoding/json, which
// keeps the last duplicate; the key set refuses such payloads first.
func TestOIDCDuplicateClaims(t *testing.T) {
	rk, _ := testKeys()
	exp := time.Now().Add(time.Hour).Unix()
	payload := `{"iss":"` + idpIssuer + `","aud":"tokenfed","sub":"alice","sub":"admin","tenant":"t1","exp":` + jsonInt(exp) + `}`
	_, err := newOIDCVerifier(t).Verify(context.Background(), signRaw(t, rk, jose.RS256, "rsa1", payload, nil))
	if !errContains(err, jws.ErrMalformed.Error()) {
		t.Fatalf("got error %v, want %v", err, jws.ErrMalformed)
	}
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
