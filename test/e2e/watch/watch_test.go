// Package watch tests package revocation's Watcher, and package authn's
// Chain with a revocation watch, in the test process against real
// kube-apiservers, with a proxy in between that the test controls. No
// tokenfed process runs, so no log is scanned for tokens (see package e2e):
// the tokens minted here go nowhere else.
package watch

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	authv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn"
	"github.com/tokenfed/tokenfed/pkg/authn/jwt"
	"github.com/tokenfed/tokenfed/pkg/authn/revocation"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
	"github.com/tokenfed/tokenfed/pkg/testing/federation"
)

// TestWatchOutageObjectsCreatedMeanwhileAreUnknown: while a resource's
// watch is broken (for less than maxWatchOutage, so its objects still
// decide tokens), the watch cannot have seen objects created since it
// broke. A token of a ServiceAccount created, or deleted and recreated,
// during the outage is valid in the cluster: the watch must not call it
// revoked (a rejection that is also cached) once it is older than
// FreshToken, but leave it to the fallback. A ServiceAccount the watch saw
// deleted before the outage still revokes its tokens.
func TestWatchOutageObjectsCreatedMeanwhileAreUnknown(t *testing.T) {
	hub := controlplane.StartT(t, controlplane.Options{Name: "hub"})
	const ns = "outage"
	if _, err := hub.CreateNamespace(ctx(t), ns); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"recreated", "gone"} {
		if _, err := hub.CreateServiceAccount(ctx(t), ns, name); err != nil {
			t.Fatal(err)
		}
	}
	proxy := startCutProxy(t, hub)
	w := startWatcher(t, revocation.Options{Config: proxy.config(hub), MaxWatchOutage: time.Hour})

	gone, goneIAT := saToken(t, hub, ns, "gone")
	if err := hub.Client.CoreV1().ServiceAccounts(ns).Delete(ctx(t), "gone", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	pollFor(t, "the watch to see the deletion", 10*time.Second, func() bool {
		v, _ := w.Check(gone)
		return v != revocation.Valid
	})
	sleepUntilOld(goneIAT)

	proxy.setCut(true)
	pollFor(t, "the watch to break", 30*time.Second, func() bool { return !watchUp(w, "serviceaccounts") })

	if _, err := hub.CreateServiceAccount(ctx(t), ns, "created"); err != nil {
		t.Fatal(err)
	}
	created, _ := saToken(t, hub, ns, "created")
	if err := hub.Client.CoreV1().ServiceAccounts(ns).Delete(ctx(t), "recreated", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := hub.CreateServiceAccount(ctx(t), ns, "recreated"); err != nil {
		t.Fatal(err)
	}
	recreated, iat := saToken(t, hub, ns, "recreated")
	sleepUntilOld(iat)

	for name, tok := range map[string]*revocation.Token{"created during the outage": created, "recreated during the outage": recreated} {
		if v, err := w.Check(tok); v != revocation.Unknown {
			t.Errorf("%s, checked %s after it was issued: got %s (%v), want unknown", name, time.Since(iat).Round(time.Second), v, err)
		}
	}
	if v, err := w.Check(gone); v != revocation.Revoked {
		t.Errorf("deleted before the outage: got %s (%v), want revoked", v, err)
	}

	proxy.setCut(false)
	pollFor(t, "the watch to see the new ServiceAccounts", 60*time.Second, func() bool {
		v1, _ := w.Check(created)
		v2, _ := w.Check(recreated)
		return v1 == revocation.Valid && v2 == revocation.Valid
	})
}

// TestWatchStalledBehindProxyStopsVouching: between tokenfed and the
// cluster, an HTTP/2 proxy (a load balancer, an API gateway) answers
// HTTP/2 pings itself, so client-go's health check never closes a watch
// whose stream the proxy has stopped forwarding, and the proxy accepts new
// watches as well. The watch still looks up; meanwhile a ServiceAccount is
// deleted, and kube-apiserver rejects its tokens. kube-apiserver sends
// every watch a bookmark about once a minute, so a watch that delivered
// nothing for longer has stalled: it must count as broken since its last
// event, re-established or not, so that maxWatchOutage applies, rather
// than vouch for deleted objects for as long as the stall lasts.
// ProgressTimeout is shortened here, so the test does not wait minutes,
// and a ServiceAccount is updated every 300 ms, so the watch is never
// silent that long unless the proxy stalls it.
func TestWatchStalledBehindProxyStopsVouching(t *testing.T) {
	const progressTimeout, maxOutage = 3 * time.Second, 2 * time.Second
	hub := controlplane.StartT(t, controlplane.Options{Name: "hub"})
	const ns = "stall"
	if _, err := hub.CreateNamespace(ctx(t), ns); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"app", "ticker"} {
		if _, err := hub.CreateServiceAccount(ctx(t), ns, name); err != nil {
			t.Fatal(err)
		}
	}
	go func() {
		for i := 0; ctx(t).Err() == nil; i++ {
			patch := fmt.Sprintf(`{"metadata":{"annotations":{"tick":"%d"}}}`, i)
			_, _ = hub.Client.CoreV1().ServiceAccounts(ns).Patch(ctx(t), "ticker", types.MergePatchType, []byte(patch), metav1.PatchOptions{})
			time.Sleep(300 * time.Millisecond)
		}
	}()
	proxy := startStallProxy(t, hub)
	w := startWatcher(t, revocation.Options{Config: proxy.config(), MaxWatchOutage: maxOutage, ProgressTimeout: progressTimeout})
	tok, iat := saToken(t, hub, ns, "app")
	sleepUntilOld(iat)
	pollFor(t, "the token to be valid before the stall", 10*time.Second, func() bool {
		v, _ := w.Check(tok)
		return v == revocation.Valid
	})

	proxy.stall(true)
	if err := hub.Client.CoreV1().ServiceAccounts(ns).Delete(ctx(t), "app", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// From the stall, the watch is silent; progressTimeout later it has
	// stalled, maxWatchOutage after its last event it no longer vouches,
	// and it must not again for as long as the stall lasts.
	stalled := time.Now()
	time.Sleep(progressTimeout + time.Second)
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if v, _ := w.Check(tok); v == revocation.Valid {
			t.Fatalf("the deleted ServiceAccount's token is valid %s into the stall (watch up: %v), want the fallback", time.Since(stalled).Round(100*time.Millisecond), watchUp(w, "serviceaccounts"))
		}
	}

	proxy.stall(false)
	pollFor(t, "the watch to see the deletion", 60*time.Second, func() bool {
		v, _ := w.Check(tok)
		return v == revocation.Revoked
	})
}

// Reloads that change a watching issuer against a real cluster stop each
// retired watch: no goroutine is left behind.
func TestReloadsStopRevocationWatches(t *testing.T) {
	hub := controlplane.StartT(t, controlplane.Options{Name: "hub"})
	if err := hub.AllowAnonymousIssuerDiscovery(ctx(t)); err != nil {
		t.Fatal(err)
	}
	config := func(maxOutage time.Duration) *v1alpha1.Configuration {
		is := federation.HubIssuer("hub", hub)
		is.Upstream = &v1alpha1.Upstream{Kubeconfig: hub.Kubeconfig, Policy: v1alpha1.UpstreamOnFailure}
		is.Revocation = &v1alpha1.Revocation{Mode: v1alpha1.RevocationWatch, MaxWatchOutage: metav1.Duration{Duration: maxOutage}}
		cfg := &v1alpha1.Configuration{
			Server:  v1alpha1.Server{TLSCertFile: "tls.crt", TLSPrivateKeyFile: "tls.key"},
			Callers: v1alpha1.Callers{AllowAnonymous: true},
			Issuers: []v1alpha1.Issuer{is},
		}
		v1alpha1.SetDefaults(cfg)
		if errs := v1alpha1.Validate(cfg); len(errs) > 0 {
			t.Fatal(errs.ToAggregate())
		}
		return cfg
	}
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := authn.New(runCtx, config(time.Minute), authn.NewChainMetrics(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	c.Run(runCtx)
	reload := func(i int) {
		t.Helper()
		next, err := c.Successor(runCtx, config(time.Minute+time.Duration(i%2+1)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		next.Run(runCtx)
		waitCtx, waitCancel := context.WithTimeout(runCtx, 20*time.Second)
		defer waitCancel()
		if err := next.AwaitAddedKeys(waitCtx); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		c.Retire(next)
		c = next
	}
	for i := range 3 {
		reload(i)
	}
	time.Sleep(500 * time.Millisecond)
	before := runtime.NumGoroutine()
	for i := range 30 {
		reload(i)
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before+5 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+5 {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after 30 reloads, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

func ctx(t *testing.T) context.Context { return t.Context() }

// startWatcher runs a Watcher of the hub, named hub, with opts, until the
// test ends, and waits for its first sync.
func startWatcher(t *testing.T, opts revocation.Options) *revocation.Watcher {
	t.Helper()
	opts.IssuerName = "hub"
	w, err := revocation.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	pollFor(t, "the watch to sync", 30*time.Second, w.Synced)
	return w
}

func pollFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx(t), 20*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		return cond(), nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// watchUp reports whether the watch of resource is established.
func watchUp(w *revocation.Watcher, resource string) bool {
	for _, st := range w.Status() {
		if st.Resource == resource {
			return st.Up
		}
	}
	return false
}

// saToken mints a token of ns/name on hub and returns its refs as local
// verification would (the ServiceAccount's name and UID, and the iat),
// and its iat.
func saToken(t *testing.T, hub *controlplane.ControlPlane, ns, name string) (*revocation.Token, time.Time) {
	t.Helper()
	sa, err := hub.Client.CoreV1().ServiceAccounts(ns).Get(ctx(t), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Minted without secretscan.Register: the token goes to no tokenfed
	// process, whose logs would be scanned for it.
	resp, err := hub.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx(t), name, &authv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	iat := issuedAt(t, resp.Status.Token)
	return revocation.NewToken(jwt.Refs{
		Namespace:      ns,
		ServiceAccount: jwt.ObjectRef{Name: name, UID: string(sa.UID), Set: true},
		IssuedAt:       iat,
	}), iat
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
	time.Sleep(time.Until(iat.Add(revocation.FreshToken + time.Second)))
}

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
