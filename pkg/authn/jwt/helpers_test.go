package jwt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokenfed/tokenfed/pkg/authn/keyset"
	"github.com/tokenfed/tokenfed/pkg/testing/jwstest"
)

var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
)

// testKeys are shared: RSA key generation is slow under -race.
func testKeys() (*rsa.PrivateKey, *ecdsa.PrivateKey) {
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
	return rsaKey, ecKey
}

// staticKeySet serves the test keys as kids "rsa1" and "ec1".
func staticKeySet(t testing.TB, algs ...string) *keyset.KeySet {
	t.Helper()
	rk, ek := testKeys()
	doc, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: rk.Public(), KeyID: "rsa1", Use: "sig"},
		{Key: ek.Public(), KeyID: "ec1", Use: "sig"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keyset.New(keyset.Options{IssuerName: "test", StaticJWKS: doc, Algorithms: algs})
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

// signClaims marshals claims and signs them RS256 with kid rsa1.
func signClaims(t testing.TB, claims map[string]any) string {
	t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	rk, _ := testKeys()
	return signRaw(t, rk, jose.RS256, "rsa1", string(b), nil)
}

func rawToken(header, payload, sig string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(payload)) + "." + enc([]byte(sig))
}

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
