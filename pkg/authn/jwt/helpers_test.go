package jwt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokenfed/tokenfed/pkg/authn/keyset"
	"github.com/tokenfed/tokenfed/pkg/testing/jwstest"
)

// testKeys are jwstest's shared keys.
func testKeys() (*rsa.PrivateKey, *ecdsa.PrivateKey) {
	return jwstest.RSAKey(0), jwstest.ECKey(0)
}

// staticKeySet serves the test keys as kids "rsa1" and "ec1".
func staticKeySet(t testing.TB, algs ...string) *keyset.KeySet {
	t.Helper()
	rk, ek := testKeys()
	doc := jwstest.JWKS(jwstest.PublicJWK(rk, "rsa1", ""), jwstest.PublicJWK(ek, "ec1", ""))
	ks, err := keyset.New(keyset.Options{IssuerName: "test", StaticJWKS: []byte(doc), Algorithms: algs})
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// signRaw signs payload verbatim; extra headers are set as given.
func signRaw(t testing.TB, key any, alg jose.SignatureAlgorithm, kid, payload string, extra map[string]any) string {
	t.Helper()
	out, err := jwstest.Sign(key, alg, kid, payload, withJWTType(extra))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// withJWTType adds typ JWT unless extra sets typ itself.
func withJWTType(extra map[string]any) map[string]any {
	h := map[string]any{"typ": "JWT"}
	for k, v := range extra {
		h[k] = v
	}
	return h
}

// signClaims signs claims RS256 with kid rsa1.
func signClaims(t testing.TB, claims map[string]any) string {
	t.Helper()
	rk, _ := testKeys()
	out, err := jwstest.SignClaims(rk, jose.RS256, "rsa1", claims)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func rawToken(header, payload, sig string) string { return jwstest.Raw(header, payload, sig) }

// spyServer counts requests; tokens may name it, tokenfed must never call it.
type spyServer struct {
	*httptest.Server
	hits atomic.Int64
}

func newSpy(t testing.TB) *spyServer {
	s := &spyServer{}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { s.hits.Add(1) }))
	t.Cleanup(s.Close)
	return s
}

// unix renders t as a JWT NumericDate.
func unix(t time.Time) int64 { return t.Unix() }

// testECKeyFresh is a P-256 key nobody trusts.
func testECKeyFresh(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
