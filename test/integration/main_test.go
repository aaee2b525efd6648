// Package integration tests a real tokenfed process over real TLS and HTTP,
// with kube-apiserver's own webhook client and client-go as callers.
package integration

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/tokenfed/tokenfed/pkg/testing/secretscan"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// TestMain runs the tests, then scans the log and answers of every
// tokenfed they started (at -v=10) for every token they made; any part of
// one fails the run.
func TestMain(m *testing.M) {
	// Also sent by kube-apiserver's webhook client, which does not register
	// what it sends.
	secretscan.Register(unknownIssuerToken, "integration.unknownIssuerToken")
	os.Exit(secretscan.Main(m, tokenfedproc.Recorded, tokenfedproc.RemoveRecorded))
}

// startTokenfed starts a tokenfed with no issuers and stops it at cleanup.
func startTokenfed(t *testing.T, mutate func(*tokenfedproc.Options)) *tokenfedproc.Process {
	t.Helper()
	opts := tokenfedproc.Options{Dir: t.TempDir()}
	if mutate != nil {
		mutate(&opts)
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

// post sends body to path and returns the status code and response body.
func post(t *testing.T, c *http.Client, url, contentType, body string) (int, string) {
	t.Helper()
	resp, err := c.Post(url, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	return resp.StatusCode, string(data)
}

// metric returns the text of /metrics lines that start with prefix.
func metric(t *testing.T, p *tokenfedproc.Process, prefix string) string {
	t.Helper()
	lines, err := p.MetricLines(prefix)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	return lines
}

// unknownIssuerToken is a well-formed, unsigned JWT whose issuer no
// configuration trusts: it is rejected before any cryptography.
const unknownIssuerToken = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJodHRwczovL3Vua25vd24uZXhhbXBsZSIsInN1YiI6InUifQ.c2lnbmF0dXJl"
