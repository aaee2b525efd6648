package tokenfedproc

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenfed/tokenfed/pkg/testing/secretscan"
)

// TestClientRecordsTokensAndBodies: what the client sends is registered
// and what it reads is recorded, so a server that echoes the token is
// caught by the scan.
func TestClientRecordsTokensAndBodies(t *testing.T) {
	const token = "opaque-token-sent-only-through-the-recording-client"
	echo := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(w, r.Body)
	}))
	defer echo.Close()
	p := &Process{ResponsesFile: filepath.Join(t.TempDir(), "responses.log")}
	c := &http.Client{Transport: &recordingTransport{next: echo.Client().Transport.(*http.Transport), file: p.ResponsesFile}}

	resp, err := c.Post(echo.URL, "application/json", strings.NewReader(`{"spec":{"token":"`+token+`"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatalf("closing the body: %v", err)
	}

	recorded, err := os.ReadFile(p.ResponsesFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(recorded), token) {
		t.Errorf("got responses file %q, want the echoed body", recorded)
	}
	rep, err := secretscan.Default.Scan([]string{p.ResponsesFile})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Hits) != 1 || rep.Hits[0].Source != "sent by tokenfedproc.Client" {
		t.Errorf("got hits %v, want one for the token the client sent", rep.Hits)
	}
}

func TestHTTPTransportIsTheOneUnderClient(t *testing.T) {
	next := &http.Transport{}
	c := &http.Client{Transport: &recordingTransport{next: next}}
	if got := HTTPTransport(c); got != next {
		t.Errorf("got %p, want the recording client's transport %p", got, next)
	}
}
