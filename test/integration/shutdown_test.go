package integration

import (
	"context"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// TestGracefulShutdown sends SIGTERM during load. A request whose body is
// still arriving when the signal lands must complete, and every request the
// server accepted must get its answer; only new connections may be refused.
func TestGracefulShutdown(t *testing.T) {
	p := startTokenfed(t, nil)
	slowBody, slowResult := startSlowRequest(t, p.Client(), p.URL)

	var accepted, answered atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loadUntilRefused(t, p.Client(), p.URL, stop, &accepted, &answered)
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	// Finish the in-flight request only now, after shutdown began.
	if _, err := io.WriteString(slowBody, validV1[20:]); err != nil {
		t.Fatalf("finishing the in-flight body: %v", err)
	}
	slowBody.Close()
	if res := <-slowResult; res != nil {
		t.Fatalf("in-flight request during shutdown: %v", res)
	}
	close(stop)
	wg.Wait()
	code, err := p.Wait(30 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("got exit code %d (%v), want 0 after a graceful shutdown", code, err)
	}
	if accepted.Load() != answered.Load() || accepted.Load() == 0 {
		t.Fatalf("got %d answers for %d accepted requests, want all answered", answered.Load(), accepted.Load())
	}
	t.Logf("%d requests accepted under load, all answered; in-flight request completed", accepted.Load())
}

// startSlowRequest sends the first bytes of a review and holds the rest.
func startSlowRequest(t *testing.T, c *http.Client, url string) (*io.PipeWriter, <-chan error) {
	t.Helper()
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, url+"/authenticate", pr)
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = int64(len(validV1))
	result := make(chan error, 1)
	go func() {
		resp, err := c.Do(req)
		if err == nil {
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				err = io.ErrUnexpectedEOF
			}
		}
		result <- err
	}()
	if _, err := io.WriteString(pw, validV1[:20]); err != nil {
		t.Fatal(err)
	}
	return pw, result
}

// loadUntilRefused sends reviews, each on a new HTTP/1.1 connection, until
// stop. A request counts as accepted once it was written to a connection
// the server had accepted (the TLS handshake completed); it must then be
// answered. Refused or reset handshakes are new connections turned away.
// Keep-alive connections are avoided on purpose: a request written to an
// idle connection just as the server closes it is a race no server can
// win, which is why kube-apiserver's webhook client retries resets.
func loadUntilRefused(t *testing.T, c *http.Client, url string, stop <-chan struct{}, accepted, answered *atomic.Int64) {
	tr := tokenfedproc.HTTPTransport(c).Clone()
	tr.DisableKeepAlives, tr.ForceAttemptHTTP2 = true, false
	tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	client := &http.Client{Transport: tr}
	for {
		select {
		case <-stop:
			return
		default:
		}
		var wrote atomic.Bool
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) },
		})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/authenticate", strings.NewReader(validV1))
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if !wrote.Load() {
			continue
		}
		accepted.Add(1)
		if err != nil {
			t.Errorf("accepted request failed: %v", err)
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			answered.Add(1)
		}
	}
}
