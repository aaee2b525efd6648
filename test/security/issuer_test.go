package security

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/jwstest"
)

const (
	discoveryPath = "/.well-known/openid-configuration"
	jwksPath      = "/jwks"
	rsaKid        = "rsa-1"
	ecKid         = "ec-1"
)

// The issuer's keys, and attackerKey, which nobody trusts, are jwstest's
// shared ones.
func rsaKey() *rsa.PrivateKey        { return jwstest.RSAKey(0) }
func ecKey() *ecdsa.PrivateKey       { return jwstest.ECKey(0) }
func attackerKey() *ecdsa.PrivateKey { return jwstest.ECKey(1) }

// issuerMode is how the fake issuer answers.
type issuerMode int32

const (
	modeServe issuerMode = iota
	// modeFail answers every request with 500.
	modeFail
	// modeHang holds every request until the client gives up or stop.
	modeHang
)

// fakeIssuer is a Kubernetes service-account issuer on the wire: OpenID
// discovery and a JWKS with one RSA and one P-256 key, over TLS.
type fakeIssuer struct {
	srv    *httptest.Server
	caFile string
	mode   atomic.Int32
	// hanging counts requests held in modeHang right now.
	hanging   atomic.Int32
	release   chan struct{}
	closeOnce sync.Once

	mu   sync.Mutex
	hits map[string]int
}

func newFakeIssuer(t *testing.T) *fakeIssuer {
	t.Helper()
	f := &fakeIssuer{release: make(chan struct{}), hits: map[string]int{}}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serveHTTP))
	t.Cleanup(f.stop)
	f.caFile = filepath.Join(t.TempDir(), "issuer-ca.pem")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
	if err := os.WriteFile(f.caFile, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// URL is the issuer URL, the iss and default audience of its tokens.
func (f *fakeIssuer) URL() string { return f.srv.URL }

func (f *fakeIssuer) setMode(m issuerMode) { f.mode.Store(int32(m)) }

// stop ends held requests and closes the server: its port refuses
// connections from then on. It may be called more than once.
func (f *fakeIssuer) stop() {
	f.closeOnce.Do(func() { close(f.release) })
	f.srv.Close()
}

// hitCount is the number of requests for path so far.
func (f *fakeIssuer) hitCount(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[path]
}

func (f *fakeIssuer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.hits[r.URL.Path]++
	f.mu.Unlock()
	switch issuerMode(f.mode.Load()) {
	case modeFail:
		http.Error(w, "issuer is down", http.StatusInternalServerError)
		return
	case modeHang:
		f.hanging.Add(1)
		defer f.hanging.Add(-1)
		select {
		case <-r.Context().Done():
		case <-f.release:
		}
		http.Error(w, "released", http.StatusServiceUnavailable)
		return
	}
	switch r.URL.Path {
	case discoveryPath:
		writeJSON(w, map[string]any{"issuer": f.URL(), "jwks_uri": f.URL() + jwksPath})
	case jwksPath:
		writeJSON(w, jose.JSONWebKeySet{Keys: goodKeys()})
	default:
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// spyServer counts requests. Tokens name it in jku, x5u and iss; tokenfed
// must never call it.
type spyServer struct {
	*httptest.Server
	hits atomic.Int64
}

func newSpy(t *testing.T) *spyServer {
	s := &spyServer{}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		http.NotFound(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// edgeConfig trusts f as the ServiceAccount issuer "edge" (prefix "edge:")
// with the given fetch settings; the CA is filled in.
func edgeConfig(f *fakeIssuer, fetch v1alpha1.Fetch) v1alpha1.Configuration {
	fetch.CAFile = f.caFile
	return v1alpha1.Configuration{Issuers: []v1alpha1.Issuer{{
		Name:  "edge",
		Type:  v1alpha1.IssuerTypeServiceAccount,
		URL:   f.URL(),
		Fetch: fetch,
	}}}
}

func duration(d time.Duration) metav1.Duration { return metav1.Duration{Duration: d} }
