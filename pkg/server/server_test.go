package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/http2"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/server/healthz"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/callers"
	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
	"github.com/tokenfed/tokenfed/pkg/tokenreview"
)

// testMaxBody is the body limit of the mux under test.
const testMaxBody = 4096

// goodToken is the one token the test authenticator accepts.
const goodToken = "good-token"

// testAuth accepts goodToken as user "alice", for any audiences.
var testAuth = authenticator.TokenFunc(func(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	if token != goodToken {
		return nil, false, errors.New("token not recognized")
	}
	auds, _ := authenticator.AudiencesFrom(ctx)
	return &authenticator.Response{User: &user.DefaultInfo{Name: "alice"}, Audiences: auds}, true, nil
})

// muxServer serves NewMux over real TLS (httptest). open says every caller
// may review and read every endpoint; otherwise no caller may do either.
func muxServer(t *testing.T, open, profiling bool, ready ...healthz.HealthChecker) *httptest.Server {
	t.Helper()
	authz := v1alpha1.CallerAuthorization{Mode: v1alpha1.CallerAuthorizationStatic}
	if !open {
		authz.Static = []v1alpha1.CallerPolicy{{Name: "nobody", Users: []string{"nobody"}, Issuers: []string{"*"}, Endpoints: []string{"/metrics", "/readyz"}}}
	}
	noClientCA := func() (x509.VerifyOptions, bool) { return x509.VerifyOptions{}, false }
	gate, err := callers.NewGate(callers.GateOptions{ClientCA: noClientCA, AllowAnonymous: true, Authorization: authz, Metrics: callers.NewMetrics(prometheus.NewRegistry())})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "tokenfed_test_total", Help: "A series /metrics must show."}))
	srv := httptest.NewTLSServer(NewMux(Routes{
		Review: func(v string) http.Handler {
			return tokenreview.NewHandler(testAuth, gate, testMaxBody, v, nil)
		},
		Gate: gate, Live: []healthz.HealthChecker{healthz.PingHealthz}, Ready: ready,
		Gatherer: reg, Profiling: profiling,
	}))
	t.Cleanup(srv.Close)
	return srv
}

func reviewJSON(apiVersion, token string) string {
	return fmt.Sprintf(`{"apiVersion":%q,"kind":"TokenReview","spec":{"token":%q,"audiences":["api"]}}`, "authentication.k8s.io/"+apiVersion, token)
}

type reply struct {
	code   int
	header http.Header
	body   string
}

func do(t *testing.T, c *http.Client, method, url, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, string(data)}
}

// TestRoutes: every route answers what README's API table says, through
// the real handlers, over TLS.
func TestRoutes(t *testing.T) {
	srv := muxServer(t, true, false)
	tooBig := reviewJSON("v1", strings.Repeat("a", testMaxBody))
	cases := []struct {
		name, method, path, body string
		wantCode                 int
		// wantBody must be in the body.
		wantBody string
	}{
		{"v1 path", http.MethodPost, PathV1, reviewJSON("v1", goodToken), 200, `{"kind":"TokenReview","apiVersion":"authentication.k8s.io/v1","metadata":{},"spec":{},"status":{"authenticated":true,"user":{"username":"alice"},"audiences":["api"]}}`},
		{"v1beta1 path", http.MethodPost, PathV1beta1, reviewJSON("v1beta1", goodToken), 200, `"apiVersion":"authentication.k8s.io/v1beta1"`},
		{"authenticate takes the version from the body", http.MethodPost, PathAuthenticate, reviewJSON("v1beta1", goodToken), 200, `"apiVersion":"authentication.k8s.io/v1beta1"`},
		{"a token not recognized", http.MethodPost, PathV1, reviewJSON("v1", "other"), 200, `"status":{"user":{},"error":"token not recognized"}`},
		{"a body over the limit", http.MethodPost, PathV1, tooBig, 400, `"message":"request body is larger than the limit"`},
		{"GET on a review path", http.MethodGet, PathV1, "", 405, `"message":"only POST is allowed"`},
		{"an unknown path", http.MethodGet, "/apis/authentication.k8s.io/v2/tokenreviews", "", 404, "404 page not found"},
		{"healthz", http.MethodGet, "/healthz", "", 200, "ok"},
		{"livez", http.MethodGet, "/livez", "", 200, "ok"},
		{"readyz", http.MethodGet, "/readyz", "", 200, "ok"},
		{"metrics", http.MethodGet, "/metrics", "", 200, "tokenfed_test_total 0"},
		{"pprof is off unless asked for", http.MethodGet, "/debug/pprof/", "", 404, "404 page not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, srv.Client(), tc.method, srv.URL+tc.path, tc.body)
			if r.code != tc.wantCode || !strings.Contains(r.body, tc.wantBody) {
				t.Fatalf("got %d %q, want %d with %q", r.code, r.body, tc.wantCode, tc.wantBody)
			}
			if strings.Contains(r.body, goodToken) {
				t.Errorf("got a body that quotes the token: %q", r.body)
			}
		})
	}
}

// TestRoutesForCallersWithoutGrants: a caller no policy matches may not
// review (403), nor read /metrics, and gets /readyz's status without its
// details; the kubelet's probes stay open.
func TestRoutesForCallersWithoutGrants(t *testing.T) {
	failing := healthz.NamedCheck("keys", func(*http.Request) error { return errors.New("issuer hub: not loaded") })
	srv := muxServer(t, false, true, failing)
	for _, tc := range []struct {
		path, body string
		wantCode   int
		wantBody   string
	}{
		{PathV1, reviewJSON("v1", goodToken), 403, "this caller may not review tokens"},
		{"/metrics", "", 403, "this caller may not read /metrics"},
		{"/debug/pprof/", "", 403, "this caller may not read /debug/pprof"},
		{"/readyz?verbose", "", 503, "readyz check failed (details for authorized callers only)"},
		{"/healthz", "", 200, "ok"},
		{"/livez", "", 200, "ok"},
	} {
		method := http.MethodGet
		if tc.body != "" {
			method = http.MethodPost
		}
		r := do(t, srv.Client(), method, srv.URL+tc.path, tc.body)
		if r.code != tc.wantCode || !strings.Contains(r.body, tc.wantBody) {
			t.Errorf("%s: got %d %q, want %d with %q", tc.path, r.code, r.body, tc.wantCode, tc.wantBody)
		}
		if strings.Contains(r.body, "not loaded") {
			t.Errorf("%s: got the check's detail %q for a caller without the grant", tc.path, r.body)
		}
	}
}

// TestReadyzGatingAndDetails: a failing check gates readiness unless it is
// informational; details go to callers granted /readyz.
func TestReadyzGatingAndDetails(t *testing.T) {
	gating := healthz.NamedCheck("serving-certificate", func(*http.Request) error { return errors.New("not loaded") })
	info := informational{healthz.NamedCheck("issuer-edge", func(*http.Request) error { return errors.New("no keys yet") })}
	for _, tc := range []struct {
		name     string
		checks   []healthz.HealthChecker
		wantCode int
		wantBody string
	}{
		{"a gating check fails", []healthz.HealthChecker{gating, info}, 503, "[-]serving-certificate failed: not loaded\n[-]issuer-edge not ready (does not gate readiness): no keys yet\nreadyz check failed\n"},
		{"only an informational check fails", []healthz.HealthChecker{info}, 200, "[-]issuer-edge not ready (does not gate readiness): no keys yet\nreadyz check passed\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := muxServer(t, true, false, tc.checks...)
			r := do(t, srv.Client(), http.MethodGet, srv.URL+"/readyz?verbose", "")
			if r.code != tc.wantCode || r.body != tc.wantBody {
				t.Fatalf("got %d %q, want %d %q", r.code, r.body, tc.wantCode, tc.wantBody)
			}
		})
	}
}

type informational struct{ healthz.HealthChecker }

func (informational) Informational() bool { return true }

// running is a Server under Run, on a loopback port, with the dev
// certificates.
type running struct {
	url     string
	addr    string
	reg     *prometheus.Registry
	tlsConf *tls.Config
	cancel  context.CancelFunc
	done    chan error
}

// runServer runs New(opts, handler) until the test ends; opts gets the
// address, certificates and timeouts.
func runServer(t *testing.T, opts Options, handler http.Handler) *running {
	t.Helper()
	files, err := devcerts.Write(t.TempDir())
	must(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	must(t, ln.Close())
	opts.BindAddress, opts.Port, opts.CertFile, opts.KeyFile = "127.0.0.1", int32(port), files.ServingCert, files.ServingKey
	opts.ReadTimeout, opts.WriteTimeout, opts.IdleTimeout = 10*time.Second, 10*time.Second, time.Minute
	if opts.ShutdownGracePeriod == 0 {
		opts.ShutdownGracePeriod = 10 * time.Second
	}
	reg := prometheus.NewRegistry()
	s := New(opts, handler, NewMetrics(reg))
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{url: "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		reg: reg, tlsConf: trusting(t, files.CACert), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	waitServing(t, r)
	return r
}

func trusting(t *testing.T, caFile string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	must(t, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"h2"}}
}

func waitServing(t *testing.T, r *running) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := tls.Dial("tcp", r.addr, r.tlsConf); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("server not serving after 10s")
}

// h2Conn opens one HTTP/2 connection to r: every request on it shares it.
func (r *running) h2Conn(t *testing.T) *http2.ClientConn {
	t.Helper()
	c, err := tls.Dial("tcp", r.addr, r.tlsConf)
	must(t, err)
	cc, err := (&http2.Transport{}).NewClientConn(c)
	must(t, err)
	t.Cleanup(func() { cc.Close() })
	return cc
}

func get(cc *http2.ClientConn, url string) (int, string, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	resp, err := cc.RoundTrip(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body) + resp.Header.Get("Retry-After"), err
}

// blocking answers /block only once release is closed; started receives
// once per /block request that entered it. Other paths answer at once.
type blocking struct {
	started chan struct{}
	release chan struct{}
}

func newBlocking() *blocking {
	return &blocking{started: make(chan struct{}, 100), release: make(chan struct{})}
}

func (b *blocking) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/block" {
		b.started <- struct{}{}
		<-b.release
	}
	_, _ = io.WriteString(w, "done")
}

// TestRequestsInFlightBound: beyond MaxRequestsInFlight a request is
// answered 503 at once, without Retry-After, while health probes and
// /metrics are still served; the bound's slots free as requests end.
func TestRequestsInFlightBound(t *testing.T) {
	const maxInFlight = 2
	b := newBlocking()
	r := runServer(t, Options{MaxRequestsInFlight: maxInFlight}, b)
	cc := r.h2Conn(t)
	var wg sync.WaitGroup
	for range maxInFlight {
		wg.Go(func() {
			if code, body, err := get(cc, r.url+"/block"); err != nil || code != 200 {
				t.Errorf("blocked request: got %d %q %v, want 200", code, body, err)
			}
		})
		<-b.started
	}
	code, body, err := get(cc, r.url+"/other")
	if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(body, "tokenfed is overloaded: 2 requests in flight") || strings.HasSuffix(body, "\n1") {
		t.Fatalf("request over the bound: got %d %q %v, want 503 overloaded without Retry-After", code, body, err)
	}
	for _, path := range []string{"/healthz", "/livez", "/readyz", "/metrics"} {
		if code, _, err := get(cc, r.url+path); err != nil || code != 200 {
			t.Errorf("%s with the bound reached: got %d %v, want 200", path, code, err)
		}
	}
	if got := metricValue(t, r.reg, "tokenfed_server_requests_in_flight"); got != maxInFlight {
		t.Errorf("got tokenfed_server_requests_in_flight %v, want %d", got, maxInFlight)
	}
	close(b.release)
	wg.Wait()
	if code, _, err := get(cc, r.url+"/other"); err != nil || code != 200 {
		t.Errorf("after the blocked requests ended: got %d %v, want 200", code, err)
	}
	if got := metricValue(t, r.reg, "tokenfed_server_overload_refusals_total"); got != 1 {
		t.Errorf("got tokenfed_server_overload_refusals_total %v, want 1", got)
	}
}

// TestConcurrentStreamsAnnounced: each HTTP/2 connection is told
// MaxConcurrentStreams in the server's SETTINGS.
func TestConcurrentStreamsAnnounced(t *testing.T) {
	r := runServer(t, Options{MaxConcurrentStreams: 7}, newBlocking())
	cc := r.h2Conn(t)
	if code, _, err := get(cc, r.url+"/x"); err != nil || code != 200 {
		t.Fatalf("got %d %v, want 200", code, err)
	}
	if got := cc.State().MaxConcurrentStreams; got != 7 {
		t.Fatalf("got SETTINGS_MAX_CONCURRENT_STREAMS %d, want 7", got)
	}
}

// TestConnectionBound: past MaxConnections, while every connection has a
// request in flight, a client is not accepted (its TLS handshake gets no
// answer) until a connection closes. (Idle connections make room instead:
// TestIdleConnectionsCannotLockOutNewClients.)
func TestConnectionBound(t *testing.T) {
	const maxConns = 3
	b := newBlocking()
	r := runServer(t, Options{MaxConnections: maxConns}, b)
	time.Sleep(100 * time.Millisecond) // waitServing's probe connections close
	var open []*http2.ClientConn
	for i := range maxConns {
		c, err := dialTLS(r, time.Second)
		if err != nil {
			t.Fatalf("connection %d of %d: %v", i+1, maxConns, err)
		}
		cc, err := (&http2.Transport{}).NewClientConn(c)
		must(t, err)
		go func() { _, _, _ = get(cc, r.url+"/block") }()
		<-b.started
		open = append(open, cc)
	}
	defer close(b.release)
	if _, err := dialTLS(r, 300*time.Millisecond); err == nil {
		t.Fatalf("got connection %d accepted, want it kept waiting", maxConns+1)
	}
	if got := metricValue(t, r.reg, "tokenfed_server_connections"); got != maxConns {
		t.Errorf("got tokenfed_server_connections %v, want %d", got, maxConns)
	}
	open[0].Close()
	c, err := dialTLS(r, 2*time.Second)
	if err != nil {
		t.Fatalf("after one connection closed: %v, want a new one accepted", err)
	}
	c.Close()
	for _, cc := range open[1:] {
		cc.Close()
	}
}

func dialTLS(r *running, timeout time.Duration) (*tls.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	c, err := d.Dial("tcp", r.addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(c, r.tlsConf)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return tc, nil
}

// goAwayWithin bounds the time from the start of shutdown to a client
// seeing GOAWAY: the server sends it at once, not when its streams end.
const goAwayWithin = time.Second

// TestShutdownSendsGoAwayAtOnce: when shutdown begins, an HTTP/2
// connection with a request in flight gets GOAWAY at once: its client
// stops sending on it (a new request fails over to a new connection), and
// the request in flight still gets its answer. Without GOAWAY the client
// would keep sending on the connection, which the server would then cut.
func TestShutdownSendsGoAwayAtOnce(t *testing.T) {
	b := newBlocking()
	r := runServer(t, Options{}, b)
	cc := r.h2Conn(t)
	inFlight := make(chan error, 1)
	go func() {
		code, _, err := get(cc, r.url+"/block")
		if err == nil && code != 200 {
			err = fmt.Errorf("status %d", code)
		}
		inFlight <- err
	}()
	<-b.started

	start := time.Now()
	r.cancel()
	for !cc.State().Closing {
		if time.Since(start) > goAwayWithin {
			t.Fatalf("no GOAWAY %s after shutdown began, with a request in flight", goAwayWithin)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("GOAWAY %s after shutdown began", time.Since(start).Round(time.Millisecond))
	if _, _, err := get(cc, r.url+"/other"); err == nil {
		t.Fatal("a request sent after GOAWAY was served on the same connection, want it refused to the client for a retry elsewhere")
	}
	close(b.release)
	if err := <-inFlight; err != nil {
		t.Fatalf("request in flight at shutdown: %v, want its answer", err)
	}
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("Run: %v, want a clean shutdown", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return 5s after its last request ended")
	}
}

// metricValue is the one sample of the gauge or counter name in reg.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	must(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			return m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
