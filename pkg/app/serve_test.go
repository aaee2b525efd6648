package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// servedApp is an App serving on loopback as tokenfed serve runs it: its
// own HTTPS listener, serving certificate from files, client CA, Run.
type servedApp struct {
	*App
	url   string
	certs devcerts.Files
	ca    *devcerts.CA
	// cfg is the configuration served, listener and files filled in.
	cfg v1alpha1.Configuration
	// reloadPath is the watched configuration file, when reload is on.
	reloadPath string
}

// serveApp runs cfg with development certificates (server.clientCAFile
// is their CA) until the test ends. With reload, the configuration file
// is re-read every 50ms.
func serveApp(t *testing.T, cfg v1alpha1.Configuration, reload bool) *servedApp {
	t.Helper()
	certs, err := devcerts.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ca, err := devcerts.LoadCA(certs)
	if err != nil {
		t.Fatal(err)
	}
	port, err := tokenfedproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Server.BindAddress, cfg.Server.SecurePort = "127.0.0.1", int32(port)
	cfg.Server.TLSCertFile, cfg.Server.TLSPrivateKeyFile, cfg.Server.ClientCAFile = certs.ServingCert, certs.ServingKey, certs.CACert
	yaml := configYAML(t, cfg)
	parsed, err := loadYAML([]byte(yaml))
	if err != nil {
		t.Fatalf("test config: %v", err)
	}
	s := &servedApp{url: fmt.Sprintf("https://127.0.0.1:%d", port), certs: certs, ca: ca, cfg: cfg}
	var opts Options
	if reload {
		s.reloadPath = writeTestFile(t, "config.yaml", []byte(yaml))
		opts.Reload = &ReloadOptions{Path: s.reloadPath, Initial: []byte(yaml), Load: loadYAML, Interval: 50 * time.Millisecond}
	}
	ctx, cancel := context.WithCancel(context.Background())
	if s.App, err = New(ctx, parsed, opts); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	s.waitServing(t, done)
	return s
}

// waitServing waits until /healthz answers; the deadline only guards
// against a hung test.
func (s *servedApp) waitServing(t *testing.T, done <-chan error) {
	t.Helper()
	c := s.client(t, "", nil)
	defer c.CloseIdleConnections()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("Run ended before serving: %v", err)
		default:
		}
		if resp, err := c.Get(s.url + "/healthz"); err == nil {
			resp.Body.Close()
			return
		}
	}
	t.Fatal("not serving within 10s")
}

// client trusts the serving certificate and presents a client
// certificate of the CA with cn and orgs; cn "" presents none.
func (s *servedApp) client(t *testing.T, cn string, orgs []string) *http.Client {
	t.Helper()
	caPEM, err := os.ReadFile(s.certs.CACert)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	tc := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if cn != "" {
		certPEM, keyPEM, err := s.ca.Issue(cn, orgs, nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}, Timeout: 10 * time.Second}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// do sends one request; body "" sends none.
func do(t *testing.T, c *http.Client, method, url, contentType, body string) (int, http.Header, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}
