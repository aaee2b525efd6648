package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
	"github.com/tokenfed/tokenfed/pkg/testing/staticissuer"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// The development client certificate's CN.
const devCertCN = "kube-apiserver"

// monitoring lets the development certificate read /metrics, which the
// tests count with, and review nothing.
var monitoring = v1alpha1.CallerPolicy{Name: "monitoring", Users: []string{devCertCN}, Endpoints: []string{"/metrics"}}

// withCallers accepts hub tokens minted for tokenfed as caller
// credentials, and applies policies.
func withCallers(policies ...v1alpha1.CallerPolicy) func(*v1alpha1.Configuration) {
	return func(cfg *v1alpha1.Configuration) {
		cfg.Callers.Tokens = &v1alpha1.CallerTokens{Audiences: []string{callerAudience}, Issuers: []string{"hub"}}
		cfg.Callers.Authorization = v1alpha1.CallerAuthorization{Mode: v1alpha1.CallerAuthorizationStatic, Static: policies}
	}
}

// TestCallerRefused: tokenfed's 401 (no caller credential) and 403 (no
// grant) are ErrCallerRefused with their codes, and not retried.
func TestCallerRefused(t *testing.T) {
	p := startTokenfed(t, withCallers(monitoring))
	token := mint(t, staticissuer.Claims{})
	for _, tc := range []struct {
		name     string
		cfg      Config
		wantCode int
		wantMsg  string
	}{
		{"no credential", Config{Server: p.URL, CAFile: p.Certs.CACert}, 401, "a client certificate or a bearer token minted for tokenfed is required"},
		{"no grant", certConfig(p), 403, "this caller may not review tokens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, tc.cfg)

			_, err := c.Review(ctxTimeout(t, 30*time.Second), token)

			var cr *CallerRefusedError
			if !errors.As(err, &cr) || !errors.Is(err, ErrCallerRefused) || cr.Code != tc.wantCode || cr.Message != tc.wantMsg {
				t.Fatalf("got %v, want a %d CallerRefusedError saying %q", err, tc.wantCode, tc.wantMsg)
			}
			checkNoToken(t, err, token)
		})
	}
	if got := decisions(t, p, `outcome="unauthenticated"`) + decisions(t, p, `outcome="forbidden"`); got != 2 {
		t.Fatalf("got %d refusals at tokenfed, want 2 (one per review: no retries)", got)
	}
}

// TestCallerOverRate: a 429 is this caller over its rate. It comes back
// at once as ErrCallerRefused with tokenfed's Retry-After, after one
// request: client-go's own loop would have retried it ten times.
func TestCallerOverRate(t *testing.T) {
	p := startTokenfed(t, withCallers(v1alpha1.CallerPolicy{
		Name: "member", Users: []string{devCertCN}, Issuers: []string{"*"}, Endpoints: []string{"/metrics"},
		RateLimit: &v1alpha1.RateLimit{QPS: 0.01, Burst: 1},
	}))
	c := newClient(t, certConfig(p))
	token := mint(t, staticissuer.Claims{})
	if _, err := c.Review(ctxTimeout(t, 30*time.Second), token); err != nil {
		t.Fatalf("first review: got %v, want it within the burst", err)
	}

	start := time.Now()
	_, err := c.Review(ctxTimeout(t, 30*time.Second), token)

	var cr *CallerRefusedError
	if !errors.As(err, &cr) || cr.Code != 429 || cr.RetryAfter < 90*time.Second || cr.RetryAfter > 100*time.Second {
		t.Fatalf("got %v, want a 429 CallerRefusedError with Retry-After of about 100s (qps 0.01)", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("got the answer after %s, want it at once", elapsed)
	}
	if got := decisions(t, p, `outcome="throttled"`); got != 1 {
		t.Fatalf("got %d throttled requests at tokenfed, want 1", got)
	}
}

// TestCallerTokenRotation: the application's own token file is re-read on
// the next request after it is replaced by rename. The file holds first a
// token of a granted service account, then one of a service account with
// no grant (403), then a granted one again.
func TestCallerTokenRotation(t *testing.T) {
	app := v1alpha1.CallerPolicy{Name: "app", Users: []string{hub.Username("apps", "app")}, Issuers: []string{"hub"}}
	p := startTokenfed(t, withCallers(monitoring, app))
	tokenFile := filepath.Join(t.TempDir(), "token")
	callerToken := func(sa string) string {
		return mint(t, staticissuer.Claims{Namespace: "apps", ServiceAccount: sa, Audiences: []string{callerAudience}})
	}
	writeFile(t, tokenFile, callerToken("app"))
	c := newClient(t, Config{Server: p.URL, CAFile: p.Certs.CACert, TokenFile: tokenFile})
	token := mint(t, staticissuer.Claims{})

	for i, step := range []struct {
		sa       string
		wantCode int // 0: authenticated
	}{{"app", 0}, {"other", 403}, {"app", 0}} {
		if i > 0 {
			writeFile(t, tokenFile, callerToken(step.sa))
		}

		_, err := c.Review(ctxTimeout(t, 30*time.Second), token)

		var cr *CallerRefusedError
		switch {
		case step.wantCode == 0 && err != nil:
			t.Fatalf("step %d (%s): got %v, want authenticated", i, step.sa, err)
		case step.wantCode != 0 && (!errors.As(err, &cr) || cr.Code != step.wantCode):
			t.Fatalf("step %d (%s): got %v, want %d", i, step.sa, err, step.wantCode)
		}
	}
}

// decisions sums tokenfed_caller_decisions_total over the lines that
// contain match.
func decisions(t *testing.T, p *tokenfedproc.Process, match string) int {
	t.Helper()
	lines, err := p.MetricLines("tokenfed_caller_decisions_total{")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	var kept []string
	for _, l := range strings.Split(lines, "\n") {
		if strings.Contains(l, match) {
			kept = append(kept, l)
		}
	}
	return sumMetric(t, strings.Join(kept, "\n"))
}

// TestUntrustedCallerCertificateRefused: a client certificate tokenfed
// does not trust is this caller's credential (ErrCallerRefused, tokenfed's
// 401 saying so), not an outage, and it is not retried.
func TestUntrustedCallerCertificateRefused(t *testing.T) {
	p := startTokenfed(t, withCallers(monitoring))
	other, err := devcerts.NewCA("another-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := other.Issue(devCertCN, nil, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, Config{Server: p.URL, CAFile: p.Certs.CACert, ClientCertFile: certFile, ClientKeyFile: keyFile, MaxRetries: 3})

	start := time.Now()
	_, err = c.Review(ctxTimeout(t, 30*time.Second), mint(t, staticissuer.Claims{}))

	if !errors.Is(err, ErrCallerRefused) || !strings.Contains(err.Error(), "client certificate") {
		t.Fatalf("got %v, want ErrCallerRefused naming the client certificate", err)
	}
	if elapsed := time.Since(start); elapsed > 90*time.Millisecond {
		t.Errorf("got %s, want no retry (the first backoff is 100ms)", elapsed)
	}
}

// TestCertificateWithoutKeyRefused: half a pair is refused by New, not
// dropped (client-go drops it, and every review would be a 401).
func TestCertificateWithoutKeyRefused(t *testing.T) {
	for _, cfg := range []Config{
		{Server: "https://tokenfed.example", ClientCertFile: "client.crt"},
		{Server: "https://tokenfed.example", ClientKeyFile: "client.key"},
	} {
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "must be set together") {
			t.Errorf("%+v: got %v, want the pair refused", cfg, err)
		}
	}
}

// TestCertificateAlertRefused: a server that refuses the client
// certificate in the TLS handshake (a TLS 1.2 alert; a proxy in front of
// tokenfed may) refuses this caller: ErrCallerRefused, not retried.
func TestCertificateAlertRefused(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: x509.NewCertPool(), MaxVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, certPEM(srv.Certificate().Raw), 0o600); err != nil {
		t.Fatal(err)
	}
	ca, err := devcerts.NewCA("unknown-to-the-server", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.Issue("app", nil, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	for f, b := range map[string][]byte{certFile: cert, keyFile: key} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := newClient(t, Config{Server: srv.URL, CAFile: caFile, ClientCertFile: certFile, ClientKeyFile: keyFile, MaxRetries: 3})

	start := time.Now()
	_, err = c.Review(ctxTimeout(t, 30*time.Second), "opaque-token-alert")

	if !errors.Is(err, ErrCallerRefused) || !strings.Contains(err.Error(), "client certificate") {
		t.Fatalf("got %v, want ErrCallerRefused naming the client certificate", err)
	}
	if elapsed := time.Since(start); elapsed > 90*time.Millisecond {
		t.Errorf("got %s, want no retry (the first backoff is 100ms)", elapsed)
	}
}
