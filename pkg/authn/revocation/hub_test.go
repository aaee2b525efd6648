package revocation

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"

	"github.com/tokenfed/tokenfed/pkg/authn/jwt"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
)

// cutProxy is a TCP proxy in front of a control plane that the test can
// cut: every connection through it is closed, and new ones are closed as
// they arrive, until it is restored. TLS passes through it untouched.
type cutProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
}

func startCutProxy(t *testing.T, hub *controlplane.ControlPlane) *cutProxy {
	t.Helper()
	u, err := url.Parse(hub.URL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: u.Host, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.setCut(true)
	})
	return p
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.pipe(c)
	}
}

func (p *cutProxy) pipe(c net.Conn) {
	if !p.track(c) {
		_ = c.Close()
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil || !p.track(up) {
		_ = c.Close()
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	_ = c.Close()
	_ = up.Close()
}

func (p *cutProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *cutProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			_ = c.Close()
		}
		clear(p.conns)
	}
}

// config reaches the hub, as its admin, through the proxy.
func (p *cutProxy) config(hub *controlplane.ControlPlane) *rest.Config {
	cfg := rest.CopyConfig(hub.RESTConfig)
	cfg.Host = "https://" + p.ln.Addr().String()
	return cfg
}

// startHubWatcher runs a Watcher of hub through a cutProxy and waits for
// its first sync.
func startHubWatcher(t *testing.T, hub *controlplane.ControlPlane, maxOutage time.Duration) (*Watcher, *cutProxy) {
	t.Helper()
	p := startCutProxy(t, hub)
	w, err := New(Options{IssuerName: "hub", Config: p.config(hub), MaxWatchOutage: maxOutage})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the watch to sync", 30*time.Second, w.Synced)
	return w, p
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		return cond(), nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// watchUp reports whether the watch of resource is established.
func watchUp(w *Watcher, resource string) bool {
	for _, st := range w.Status() {
		if st.Resource == resource {
			return st.Up
		}
	}
	return false
}

// saToken mints a token of ns/name on hub and returns its refs as local
// verification would: the ServiceAccount's name and UID, and the iat.
func saToken(t *testing.T, hub *controlplane.ControlPlane, ns, name string) *Token {
	t.Helper()
	sa, err := hub.Client.CoreV1().ServiceAccounts(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	token, err := hub.CreateToken(t.Context(), ns, name, controlplane.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return NewToken(jwt.Refs{
		Namespace:      ns,
		ServiceAccount: jwt.ObjectRef{Name: name, UID: string(sa.UID), Set: true},
		IssuedAt:       issuedAt(t, token),
	})
}

// issuedAt reads a token's iat.
func issuedAt(t *testing.T, token string) time.Time {
	t.Helper()
	parts := strings.Split(token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		IssuedAt int64 `json:"iat"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return time.Unix(claims.IssuedAt, 0)
}

// sleepUntilOld waits until tokens issued at iat are no longer fresh.
func sleepUntilOld(iat time.Time) {
	time.Sleep(time.Until(iat.Add(FreshToken + time.Second)))
}

// stallProxy is an HTTP/2 reverse proxy in front of a control plane, as
// an L7 load balancer or an API gateway is: it answers the client's
// HTTP/2 pings itself, so a stream it stops forwarding looks alive. While
// stalled, it forwards no byte of any watch response.
type stallProxy struct {
	URL string
	CA  []byte

	mu      sync.Mutex
	cond    *sync.Cond
	stalled bool
}

func startStallProxy(t *testing.T, hub *controlplane.ControlPlane) *stallProxy {
	t.Helper()
	tlsCfg, err := rest.TLSConfigFor(hub.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	target, err := url.Parse(hub.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport:     &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true},
		FlushInterval: -1,
	}
	p := &stallProxy{}
	p.cond = sync.NewCond(&p.mu)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("watch") == "true" {
			w = stallWriter{w, p}
		}
		rp.ServeHTTP(w, r)
	}))
	ca, err := devcerts.NewCA("stall-proxy-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue("stall-proxy", nil, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(func() {
		p.stall(false)
		srv.CloseClientConnections()
		srv.Close()
	})
	p.URL, p.CA = srv.URL, ca.CertPEM()
	return p
}

// config reaches the hub, as the proxy's admin, through the proxy.
func (p *stallProxy) config() *rest.Config {
	return &rest.Config{Host: p.URL, TLSClientConfig: rest.TLSClientConfig{CAData: p.CA}}
}

func (p *stallProxy) stall(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = on
	p.cond.Broadcast()
}

type stallWriter struct {
	http.ResponseWriter
	p *stallProxy
}

func (w stallWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	for w.p.stalled {
		w.p.cond.Wait()
	}
	w.p.mu.Unlock()
	return w.ResponseWriter.Write(b)
}

func (w stallWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
