package client

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/secretscan"
	"github.com/tokenfed/tokenfed/pkg/testing/staticissuer"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// TestMain runs the tests, then scans the log of every tokenfed they
// started (at -v=10) for every token they minted; any part of one fails
// the run.
func TestMain(m *testing.M) {
	os.Exit(secretscan.Main(m, tokenfedproc.Recorded, tokenfedproc.RemoveRecorded))
}

// hub is the one issuer of every tokenfed the tests start.
var hub = func() *staticissuer.Issuer {
	is, err := staticissuer.New("hub")
	if err != nil {
		panic(err)
	}
	return is
}()

const (
	appAudience = "https://api.shop.example"
	// callerAudience is what callers.tokens.audiences names.
	callerAudience = "tokenfed"
)

// startTokenfed starts a real tokenfed trusting hub, with the development
// CA as its client CA; mutate may change the configuration first.
func startTokenfed(t *testing.T, mutate func(*v1alpha1.Configuration)) *tokenfedproc.Process {
	t.Helper()
	opts := tokenfedproc.Options{Dir: t.TempDir(), Config: v1alpha1.Configuration{Issuers: []v1alpha1.Issuer{hub.Config()}}}
	if mutate != nil {
		mutate(&opts.Config)
	}
	p, err := tokenfedproc.Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("starting tokenfed: %v", err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("tokenfed log:\n%s", p.LogTail(40))
		}
	})
	return p
}

// certConfig reaches p with the development client certificate (CN
// kube-apiserver).
func certConfig(p *tokenfedproc.Process) Config {
	return Config{Server: p.URL, CAFile: p.Certs.CACert, ClientCertFile: p.Certs.ClientCert, ClientKeyFile: p.Certs.ClientKey}
}

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// mint signs a hub token of devices/device-1 (or claims' subject) for
// claims' audiences.
func mint(t *testing.T, claims staticissuer.Claims) string {
	t.Helper()
	if claims.Namespace == "" {
		claims.Namespace, claims.ServiceAccount = "devices", "device-1"
	}
	tok, err := hub.Token(claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// writeFile replaces path by rename, as an agent rotating a file does: a
// new inode appears under the old name at once.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// reviews is tokenfed's count of reviews answered, of every outcome.
func reviews(t *testing.T, p *tokenfedproc.Process) int {
	t.Helper()
	lines, err := p.MetricLines("tokenfed_tokenreview_requests_total{")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	return sumMetric(t, lines)
}

func sumMetric(t *testing.T, lines string) int {
	t.Helper()
	total := 0
	for _, line := range strings.Split(lines, "\n") {
		if line == "" {
			continue
		}
		var n float64
		fields := strings.Fields(line)
		if _, err := fmt.Sscan(fields[len(fields)-1], &n); err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		total += int(n)
	}
	return total
}

// checkNoToken fails if err's text holds any part of token.
func checkNoToken(t *testing.T, err error, token string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, part := range strings.Split(token, ".") {
		if len(part) >= 8 && strings.Contains(err.Error(), part) {
			t.Fatalf("got error %q, which quotes the token", err)
		}
	}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
