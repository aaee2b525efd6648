package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/klog/v2"
)

// logToken is the token of the log tests: long enough for client-go to
// log it whole, and unlike anything else in a log.
const logToken = "opaque-token-LOGGED-7f3c1d9e2b4a6c8e0f1a3b5c7d9e1f2a"

// callerLogToken is the application's own token in those tests.
const callerLogToken = "caller-token-CALLER-0a1b2c3d4e5f60718293a4b5c6d7e8f9"

// syncBuffer is klog's output; client-go's debugging round tripper writes
// from more than one goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	klog.Flush()
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logAtV10 sends klog's output to a buffer at -v=10 until the test ends.
// It must run before the client is built: client-go adds its debugging
// round tripper only when -v=6 is on at that time.
func logAtV10(t *testing.T) *syncBuffer {
	t.Helper()
	var fs flag.FlagSet
	klog.InitFlags(&fs)
	for k, v := range map[string]string{"v": "10", "logtostderr": "false", "alsologtostderr": "false"} {
		if err := fs.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	buf := &syncBuffer{}
	klog.SetOutput(buf)
	t.Cleanup(func() {
		klog.Flush()
		_ = fs.Set("v", "0")
		_ = fs.Set("logtostderr", "true")
		klog.SetOutput(os.Stderr)
	})
	return buf
}

// echoingServer answers as kube-apiserver does, repeating spec.token in
// its answer, or with error answers that quote it.
func echoingServer(t *testing.T, code int) *fakeServer {
	return newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, rv *authenticationv1.TokenReview) {
		if code != http.StatusOK {
			w.Header().Set("Retry-After", "1")
			writeStatus(w, code, "cannot review "+rv.Spec.Token)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		rv.Status = authenticatedAs("u")
		_ = json.NewEncoder(w).Encode(rv)
	})
}

// TestReviewLogsNoTokenAtV10: at the highest verbosity, nothing client-go
// logs for a review holds the token, whatever the server answers.
func TestReviewLogsNoTokenAtV10(t *testing.T) {
	for _, code := range []int{http.StatusOK, http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusBadRequest} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			logs := logAtV10(t)
			f := echoingServer(t, code)
			cfg := f.config()
			cfg.MaxRetries = -1
			cfg.TokenFile = filepath.Join(t.TempDir(), "token")
			writeFile(t, cfg.TokenFile, callerLogToken)
			c := newClient(t, cfg)

			_, err := c.Review(ctxTimeout(t, 30*time.Second), logToken)

			if err != nil && strings.Contains(err.Error(), "LOGGED") {
				t.Errorf("got error %q, which quotes the token", err)
			}
			if out := logs.String(); strings.Contains(out, "LOGGED") || strings.Contains(out, "CALLER") {
				t.Errorf("got a log that quotes the token or the caller's token:\n%s", out)
			}
			if got := f.lastBearer(); got != callerLogToken {
				t.Errorf("got bearer %q, want the caller token", got)
			}
		})
	}
}

// TestClientGoLogsTokenWithoutQuiet is the control for the test above:
// the same request without quiet's context does log the token, so the
// capture works and quiet is what keeps the log clean.
func TestClientGoLogsTokenWithoutQuiet(t *testing.T) {
	logs := logAtV10(t)
	f := echoingServer(t, http.StatusOK)
	c := newClient(t, f.config())
	review := &authenticationv1.TokenReview{TypeMeta: metaTokenReview, Spec: authenticationv1.TokenReviewSpec{Token: logToken}}

	err := c.rest.Post().Body(review).Do(context.Background()).Error()

	if err != nil {
		t.Fatal(err)
	}
	if out := logs.String(); !strings.Contains(out, "LOGGED") {
		t.Errorf("got no token in client-go's own log at -v=10, want it there (else the test above proves nothing):\n%s", out)
	}
}

// TestNewRefusesWithoutContextualLogging: quiet depends on it, so a client
// is never built without it.
func TestNewRefusesWithoutContextualLogging(t *testing.T) {
	klog.EnableContextualLogging(false)
	defer klog.EnableContextualLogging(true)

	_, err := New(Config{Server: "https://127.0.0.1:1"})

	if !errors.Is(err, errNoContextualLogging) {
		t.Fatalf("got %v, want %v", err, errNoContextualLogging)
	}
}
