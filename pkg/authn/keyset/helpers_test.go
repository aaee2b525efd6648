package keyset

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/tokenfed/tokenfed/pkg/testing/jwstest"
)

// testRSAKey is jwstest's first shared 2048-bit key.
func testRSAKey(testing.TB) *rsa.PrivateKey { return jwstest.RSAKey(0) }

// otherRSAKey is a second 2048-bit key, for keys that must differ.
func otherRSAKey(testing.TB) *rsa.PrivateKey { return jwstest.RSAKey(1) }

// weakRSAKey is under the 2048-bit floor.
func weakRSAKey(testing.TB) *rsa.PrivateKey { return jwstest.WeakRSAKey() }

func testECKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// publicJWK returns the public JWK of priv under kid.
func publicJWK(priv crypto.Signer, kid, alg string) jose.JSONWebKey {
	return jwstest.PublicJWK(priv, kid, jose.SignatureAlgorithm(alg))
}

func jwksDoc(_ testing.TB, keys ...jose.JSONWebKey) []byte {
	return []byte(jwstest.JWKS(keys...))
}

// sign makes a compact JWS over payload. Extra headers are set verbatim.
func sign(t testing.TB, key any, alg jose.SignatureAlgorithm, kid string, payload string, extra map[string]any) string {
	t.Helper()
	s, err := jwstest.Sign(key, alg, kid, payload, extra)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rawToken assembles header.payload.signature from plain strings, for tokens
// no honest signer would produce.
func rawToken(header, payload, sig string) string { return jwstest.Raw(header, payload, sig) }

// jwksServer is an httptest TLS server whose response can be changed and
// whose requests are counted.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64

	mu           sync.Mutex
	body         []byte
	status       int
	cacheControl string
}

func newJWKSServer(t testing.TB, body []byte) *jwksServer {
	s := &jwksServer{body: body, status: http.StatusOK}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(w http.ResponseWriter, _ *http.Request) {
	s.hits.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cacheControl != "" {
		w.Header().Set("Cache-Control", s.cacheControl)
	}
	w.WriteHeader(s.status)
	_, _ = w.Write(s.body)
}

func (s *jwksServer) set(status int, body []byte, cacheControl string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body, s.cacheControl = status, body, cacheControl
}

var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// remoteKeySet builds a key set reading srv's JWKS with a fake clock.
func remoteKeySet(t testing.TB, srv *jwksServer, mutate func(*Options)) (*KeySet, *testingclock.FakeClock) {
	t.Helper()
	fc := testingclock.NewFakeClock(epoch)
	opts := Options{
		IssuerName: "test",
		JWKSURL:    srv.URL + "/jwks",
		Client:     srv.Client(),
		Algorithms: []string{"RS256", "ES256"},
		Clock:      fc,
	}
	if mutate != nil {
		mutate(&opts)
	}
	ks, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return ks, fc
}

// runKeySet starts Run and returns a channel that receives each background
// refresh result once the next timer is armed.
func runKeySet(t testing.TB, ks *KeySet) <-chan error {
	t.Helper()
	done := make(chan error, 16)
	ks.onRefresh = func(err error) { done <- err }
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		ks.Run(ctx)
		close(stopped)
	}()
	t.Cleanup(func() {
		cancel()
		<-stopped
	})
	return done
}

// next waits for one background refresh; the deadline only guards against a
// hung test.
func next(t testing.TB, refreshed <-chan error) error {
	t.Helper()
	select {
	case err := <-refreshed:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no refresh within 10s")
		return nil
	}
}
