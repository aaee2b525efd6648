package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
)

// tokenReviewsPath is where tokenfed's upstream client POSTs.
const tokenReviewsPath = "/apis/authentication.k8s.io/v1/tokenreviews"

// countingProxy is a TLS reverse proxy in front of the hub. tokenfed's
// upstream kubeconfig points at it (server and CA only: the proxy itself
// authenticates to the hub with the admin client certificate), so the test
// sees every upstream TokenReview on the wire.
type countingProxy struct {
	t          *testing.T
	Kubeconfig string
	URL        string
	// hold delays each TokenReview before it is forwarded, or until the
	// caller gives up: a hung apiserver.
	hold atomic.Int64
	// forbid answers each TokenReview 403 instead of forwarding it, as the
	// hub does when tokenfed's credentials lose `create tokenreviews`.
	forbid  atomic.Bool
	reviews atomic.Int64

	addr    string
	cert    tls.Certificate
	handler http.Handler

	mu  sync.Mutex
	srv *httptest.Server
}

func startCountingProxy(t *testing.T, hub *controlplane.ControlPlane) *countingProxy {
	t.Helper()
	dir := t.TempDir()
	ca, err := devcerts.NewCA("upstream-proxy-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue("upstream-proxy", nil, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{t: t}
	if p.cert, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	p.handler = p.countingHandler(hubProxy(t, hub))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.URL = "https://" + p.addr
	p.serve(ln)
	t.Cleanup(p.Stop)

	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, ca.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	p.Kubeconfig = filepath.Join(dir, "upstream.kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["hub"] = &clientcmdapi.Cluster{Server: p.URL, CertificateAuthority: caFile}
	cfg.Contexts["hub"] = &clientcmdapi.Context{Cluster: "hub"}
	cfg.CurrentContext = "hub"
	if err := clientcmd.WriteToFile(*cfg, p.Kubeconfig); err != nil {
		t.Fatal(err)
	}
	return p
}

// hubProxy forwards to the hub as its admin. Keep-alives are off so that
// no pooled connection outlives a hub restart.
func hubProxy(t *testing.T, hub *controlplane.ControlPlane) http.Handler {
	t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", hub.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := rest.TLSConfigFor(rc)
	if err != nil {
		t.Fatal(err)
	}
	target, err := url.Parse(hub.URL)
	if err != nil {
		t.Fatal(err)
	}
	return &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport: &http.Transport{TLSClientConfig: tlsCfg, DisableKeepAlives: true},
	}
}

func (p *countingProxy) countingHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != tokenReviewsPath {
			next.ServeHTTP(w, r)
			return
		}
		p.reviews.Add(1)
		// Read the body first: net/http notices a client that went away
		// (and cancels r.Context()) only once the body has been read.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		select {
		case <-time.After(time.Duration(p.hold.Load())):
		case <-r.Context().Done():
			return
		}
		if p.forbid.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_ = json.NewEncoder(w).Encode(&metav1.Status{
				TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
				Status:   metav1.StatusFailure, Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden,
				Message: "tokenreviews.authentication.k8s.io is forbidden (injected by the test proxy)",
			})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (p *countingProxy) serve(ln net.Listener) {
	srv := httptest.NewUnstartedServer(p.handler)
	srv.Listener.Close()
	srv.Listener = ln
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	p.mu.Lock()
	p.srv = srv
	p.mu.Unlock()
}

// Reviews is the number of TokenReviews that reached the proxy.
func (p *countingProxy) Reviews() int64 { return p.reviews.Load() }

// Stop closes the listener and every connection: the upstream is gone and
// connecting to it is refused.
func (p *countingProxy) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.srv != nil {
		p.srv.CloseClientConnections()
		p.srv.Close()
		p.srv = nil
	}
}

// Restart serves again on the same address, as a restarted apiserver
// would.
func (p *countingProxy) Restart() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("listening again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}
