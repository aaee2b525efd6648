// Package e2e tests tokenfed between real kube-apiservers built from Go
// modules: a hub whose service accounts are trusted, and a member that uses
// tokenfed as its token webhook. If the control-plane binaries cannot be
// built the tests fail with instructions; they are never skipped.
package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/tokenfed/tokenfed/pkg/testing/federation"
	"github.com/tokenfed/tokenfed/pkg/testing/secretscan"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// TestMain runs the tests, then scans the log and answers of every
// tokenfed they started (at -v=10) for every token they made; any part of
// one fails the run.
func TestMain(m *testing.M) {
	os.Exit(secretscan.Main(m, tokenfedproc.Recorded, tokenfedproc.RemoveRecorded))
}

// startFederation brings up hub, tokenfed and member for one test.
func startFederation(t *testing.T, opts federation.Options) *federation.Federation {
	t.Helper()
	opts.Dir = t.TempDir()
	opts.Progress = testWriter{t}
	f, err := federation.Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("starting the federation: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() && f.Tokenfed != nil {
			t.Logf("tokenfed log:\n%s", f.Tokenfed.LogTail(40))
		}
		f.Stop()
	})
	return f
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// metric returns the /metrics lines of tokenfed that start with prefix.
func metric(t *testing.T, p *tokenfedproc.Process, prefix string) string {
	t.Helper()
	lines, err := p.MetricLines(prefix)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	return lines
}

func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return string(data)
}

func ctx(t *testing.T) context.Context { return t.Context() }

// kubectlAdmin runs kubectl with explicit flags and fails the test on error.
func kubectlAdmin(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "kubectl", args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
