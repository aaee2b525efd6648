package client

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// The tests here use an httptest server, and only for what a real
// tokenfed does not do on demand: a 503 that clears, a hang, a redirect,
// answers that quote the token.

var errConnRefused = syscall.ECONNREFUSED

// fakeServer is a TLS server whose answers the test writes. It records
// each request's path and review.
type fakeServer struct {
	*httptest.Server
	caFile string

	mu       sync.Mutex
	paths    []string
	reviews  []authenticationv1.TokenReview
	bearers  []string
	released chan struct{}
}

func newFakeServer(t *testing.T, handler func(w http.ResponseWriter, r *http.Request, call int, review *authenticationv1.TokenReview)) *fakeServer {
	t.Helper()
	f := &fakeServer{released: make(chan struct{})}
	f.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rv authenticationv1.TokenReview
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &rv)
		f.mu.Lock()
		f.paths = append(f.paths, r.URL.Path)
		f.reviews = append(f.reviews, rv)
		f.bearers = append(f.bearers, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		call := len(f.paths)
		f.mu.Unlock()
		handler(w, r, call, &rv)
	}))
	t.Cleanup(func() {
		close(f.released)
		f.Close()
	})
	f.caFile = filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(f.caFile, certPEM(f.Certificate().Raw), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fakeServer) config() Config { return Config{Server: f.URL, CAFile: f.caFile} }

func (f *fakeServer) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.paths)
}

func (f *fakeServer) lastBearer() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bearers[len(f.bearers)-1]
}

// hang holds the request until the client gives up or the test ends.
func (f *fakeServer) hang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-f.released:
	}
}

func writeReview(w http.ResponseWriter, code int, st authenticationv1.TokenReviewStatus) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(authenticationv1.TokenReview{
		TypeMeta: metaTokenReview, Status: st,
	})
}

func authenticatedAs(name string) authenticationv1.TokenReviewStatus {
	return authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: name}}
}

// writeStatus answers as tokenfed answers a refusal: a metav1.Status.
func writeStatus(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": msg, "code": code,
	})
}

func always(code int, retryAfter string) func(http.ResponseWriter, *http.Request, int, *authenticationv1.TokenReview) {
	return func(w http.ResponseWriter, _ *http.Request, _ int, _ *authenticationv1.TokenReview) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		writeStatus(w, code, http.StatusText(code))
	}
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// writeCA writes some CA, for clients of servers that never answer.
func writeCA(t *testing.T) string {
	t.Helper()
	ca, err := devcerts.NewCA("test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(path, ca.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func freePort(t *testing.T) string {
	t.Helper()
	port, err := tokenfedproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(port)
}

// TestRetryHonoursRetryAfter: a 503 with Retry-After: 1 (what tokenfed
// sends while an upstream or the authorizing cluster is down) is retried
// after exactly that second, and the retry's answer is the result.
func TestRetryHonoursRetryAfter(t *testing.T) {
	f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, call int, _ *authenticationv1.TokenReview) {
		if call == 1 {
			w.Header().Set("Retry-After", "1")
			writeStatus(w, http.StatusServiceUnavailable, "upstream is unavailable")
			return
		}
		writeReview(w, http.StatusOK, authenticatedAs("u"))
	})
	clk := clocktesting.NewFakeClock(time.Now())
	c, err := newWithClock(f.config(), clk)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Review(ctxTimeout(t, 30*time.Second), "opaque-token-retry")
		done <- err
	}()

	waitUntil(t, clk.HasWaiters)
	if got := f.calls(); got != 1 {
		t.Fatalf("got %d requests before the wait, want 1", got)
	}
	clk.Step(999 * time.Millisecond)
	if !clk.HasWaiters() {
		t.Fatal("got the retry after 999ms, want it after Retry-After: 1s")
	}
	clk.Step(time.Millisecond)

	if err := <-done; err != nil {
		t.Fatalf("got %v, want the retry's authenticated answer", err)
	}
	if got := f.calls(); got != 2 {
		t.Fatalf("got %d requests, want 2", got)
	}
}

// TestNoRetryPastDeadline: a Retry-After that ends after the context's
// deadline is not waited for: the 503 is the answer at once.
func TestNoRetryPastDeadline(t *testing.T) {
	f := newFakeServer(t, always(http.StatusServiceUnavailable, "5"))
	c := newClient(t, f.config())

	start := time.Now()
	_, err := c.Review(ctxTimeout(t, 2*time.Second), "opaque-token-deadline")

	var u *UnavailableError
	if !errors.As(err, &u) || u.Code != http.StatusServiceUnavailable || u.RetryAfter != 5*time.Second {
		t.Fatalf("got %v, want an UnavailableError with code 503 and RetryAfter 5s", err)
	}
	if got := f.calls(); got != 1 {
		t.Errorf("got %d requests, want 1", got)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("got %s, want no wait for a retry that cannot happen", elapsed)
	}
}

// TestHangEndsAtDeadline: a server that never answers costs the context's
// deadline, and the error says so.
func TestHangEndsAtDeadline(t *testing.T) {
	var f *fakeServer
	f = newFakeServer(t, func(_ http.ResponseWriter, r *http.Request, _ int, _ *authenticationv1.TokenReview) { f.hang(r) })
	c := newClient(t, f.config())

	start := time.Now()
	_, err := c.Review(ctxTimeout(t, 300*time.Millisecond), "opaque-token-hang")

	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want ErrUnavailable caused by the deadline", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("got %s, want the review to end at its 300ms deadline", elapsed)
	}
}

// TestTimeoutBoundsReview: without a deadline of its own, Config.Timeout
// bounds a review.
func TestTimeoutBoundsReview(t *testing.T) {
	var f *fakeServer
	f = newFakeServer(t, func(_ http.ResponseWriter, r *http.Request, _ int, _ *authenticationv1.TokenReview) { f.hang(r) })
	cfg := f.config()
	cfg.Timeout = 200 * time.Millisecond
	c := newClient(t, cfg)

	_, err := c.Review(t.Context(), "opaque-token-timeout")

	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the Timeout's deadline", err)
	}
}

// TestAnswers maps HTTP answers to the three errors, and says which are
// retried.
func TestAnswers(t *testing.T) {
	for _, tc := range []struct {
		name       string
		code       int
		retryAfter string
		want       error
		wantCalls  int
	}{
		{name: "429 is the caller's rate, never retried", code: 429, retryAfter: "1", want: &CallerRefusedError{Code: 429, RetryAfter: time.Second, Message: "Too Many Requests"}, wantCalls: 1},
		{name: "401", code: 401, want: &CallerRefusedError{Code: 401, Message: "Unauthorized"}, wantCalls: 1},
		{name: "403", code: 403, want: &CallerRefusedError{Code: 403, Message: "Forbidden"}, wantCalls: 1},
		{name: "400", code: 400, want: &NotAuthenticatedError{Code: 400, Reason: "Bad Request"}, wantCalls: 1},
		{name: "500 is a bug, not retried", code: 500, want: &UnavailableError{Code: 500, Reason: "HTTP 500 Internal Server Error: Internal Server Error"}, wantCalls: 1},
		{name: "404 is a wrong URL", code: 404, want: &UnavailableError{Code: 404, Reason: "HTTP 404 Not Found: Not Found"}, wantCalls: 1},
		{name: "502 retried", code: 502, want: &UnavailableError{Code: 502, Reason: "HTTP 502 Bad Gateway: Bad Gateway", retry: true}, wantCalls: 2},
		{name: "504 retried", code: 504, want: &UnavailableError{Code: 504, Reason: "HTTP 504 Gateway Timeout: Gateway Timeout", retry: true}, wantCalls: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer(t, always(tc.code, tc.retryAfter))
			cfg := f.config()
			cfg.MaxRetries = 1
			c := newClient(t, cfg)

			_, err := c.Review(ctxTimeout(t, 30*time.Second), "opaque-token-answers")

			if !equalErrors(err, tc.want) {
				t.Errorf("got %#v, want %#v", err, tc.want)
			}
			if got := f.calls(); got != tc.wantCalls {
				t.Errorf("got %d requests, want %d", got, tc.wantCalls)
			}
		})
	}
}

func equalErrors(got, want error) bool {
	switch w := want.(type) {
	case *CallerRefusedError:
		g, ok := got.(*CallerRefusedError)
		return ok && *g == *w
	case *NotAuthenticatedError:
		g, ok := got.(*NotAuthenticatedError)
		return ok && *g == *w
	case *UnavailableError:
		g, ok := got.(*UnavailableError)
		return ok && g.Code == w.Code && g.Reason == w.Reason && g.retry == w.retry && g.cause == nil
	}
	return false
}

// TestUndecodableAnswer: a 200 that is not a TokenReview says nothing
// about the token.
func TestUndecodableAnswer(t *testing.T) {
	f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, _ *authenticationv1.TokenReview) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"kind":"Pod","apiVersion":"v1"}`)
	})
	c := newClient(t, f.config())

	_, err := c.Review(ctxTimeout(t, 30*time.Second), "opaque-token-undecodable")

	var u *UnavailableError
	if !errors.As(err, &u) || u.Reason != "answer is not an authentication.k8s.io/v1 TokenReview" {
		t.Fatalf("got %v, want ErrUnavailable: answer is not an authentication.k8s.io/v1 TokenReview", err)
	}
}

// TestRedirectRefused: a redirect would send the token to a server nobody
// configured; it is not followed.
func TestRedirectRefused(t *testing.T) {
	elsewhere := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, _ *authenticationv1.TokenReview) {
		writeReview(w, http.StatusOK, authenticatedAs("u"))
	})
	f := newFakeServer(t, func(w http.ResponseWriter, r *http.Request, _ int, _ *authenticationv1.TokenReview) {
		http.Redirect(w, r, elsewhere.URL+ReviewPath, http.StatusTemporaryRedirect)
	})
	c := newClient(t, f.config())

	_, err := c.Review(ctxTimeout(t, 30*time.Second), "opaque-token-redirect")

	var u *UnavailableError
	if !errors.As(err, &u) || u.Code != http.StatusTemporaryRedirect {
		t.Fatalf("got %v, want ErrUnavailable with code 307", err)
	}
	if got := elsewhere.calls(); got != 0 {
		t.Fatalf("got %d requests at the redirect's target, want 0", got)
	}
}

// TestReviewPaths: a server URL with a path is posted to exactly, as
// kube-apiserver's webhook client posts; one without gets ReviewPath. The
// body is an authentication.k8s.io/v1 TokenReview with the audiences.
func TestReviewPaths(t *testing.T) {
	f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, rv *authenticationv1.TokenReview) {
		st := authenticatedAs("u")
		st.Audiences = rv.Spec.Audiences
		writeReview(w, http.StatusOK, st)
	})
	for server, want := range map[string]string{
		f.URL:                           ReviewPath,
		f.URL + "/":                     ReviewPath,
		f.URL + "/authenticate":         "/authenticate",
		f.URL + "/proxy/a/authenticate": "/proxy/a/authenticate",
	} {
		cfg := f.config()
		cfg.Server = server
		c := newClient(t, cfg)
		if _, err := c.Review(ctxTimeout(t, 30*time.Second), "opaque-token-paths", "aud-1", "aud-2"); err != nil {
			t.Fatalf("server %s: %v", server, err)
		}
		f.mu.Lock()
		path, rv := f.paths[len(f.paths)-1], f.reviews[len(f.reviews)-1]
		f.mu.Unlock()
		if path != want {
			t.Errorf("server %s: got path %s, want %s", server, path, want)
		}
		if rv.APIVersion != "authentication.k8s.io/v1" || rv.Kind != "TokenReview" || strings.Join(rv.Spec.Audiences, ",") != "aud-1,aud-2" {
			t.Errorf("server %s: got %s %s audiences %q, want an authentication.k8s.io/v1 TokenReview for [aud-1 aud-2]", server, rv.APIVersion, rv.Kind, rv.Spec.Audiences)
		}
	}
}

// TestAnswersQuotingTheToken: whatever a server puts in its answer, no
// error holds the token, and a user or audiences that quote it are
// refused.
func TestAnswersQuotingTheToken(t *testing.T) {
	const token = "opaque-token-0123456789-quoted-by-the-server"
	for _, tc := range []struct {
		name    string
		answer  func(w http.ResponseWriter, token string)
		wantErr error
	}{
		{"status.error", func(w http.ResponseWriter, token string) {
			writeReview(w, 200, authenticationv1.TokenReviewStatus{Error: "bad token " + token})
		}, &NotAuthenticatedError{Code: 200, Reason: withheld}},
		{"400 message", func(w http.ResponseWriter, token string) { writeStatus(w, 400, "cannot read "+token) },
			&NotAuthenticatedError{Code: 400, Reason: withheld}},
		{"429 message", func(w http.ResponseWriter, token string) { writeStatus(w, 429, "slow down, "+token) },
			&CallerRefusedError{Code: 429, Message: withheld}},
		{"500 text", func(w http.ResponseWriter, token string) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(500)
			_, _ = io.WriteString(w, "cannot check "+token+"\n")
		}, &UnavailableError{Code: 500, Reason: "HTTP 500 Internal Server Error: " + withheld}},
		{"username", func(w http.ResponseWriter, token string) { writeReview(w, 200, authenticatedAs("user-"+token)) },
			&UnavailableError{Code: 200, Reason: "answer refused: its user or audiences quote the token"}},
		{"an extra, URL-escaped", func(w http.ResponseWriter, token string) {
			st := authenticatedAs("u")
			st.User.Extra = map[string]authenticationv1.ExtraValue{"k": {"https://x.example/?t=" + url.QueryEscape(token)}}
			writeReview(w, 200, st)
		}, &UnavailableError{Code: 200, Reason: "answer refused: its user or audiences quote the token"}},
		{"audiences", func(w http.ResponseWriter, token string) {
			st := authenticatedAs("u")
			st.Audiences = []string{"aud-" + token}
			writeReview(w, 200, st)
		}, &UnavailableError{Code: 200, Reason: "answer refused: its user or audiences quote the token"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, rv *authenticationv1.TokenReview) {
				tc.answer(w, rv.Spec.Token)
			})
			c := newClient(t, f.config())

			res, err := c.Review(ctxTimeout(t, 30*time.Second), token)

			if res != nil || !equalErrors(err, tc.wantErr) {
				t.Fatalf("got (%v, %#v), want %#v", res, err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "0123456789") {
				t.Fatalf("got error %q, which quotes the token", err)
			}
		})
	}
}

// TestAudiencesIntersected: an authenticated answer is valid for the
// audiences it shares with the review; one that shares none is not
// authenticated, as in kube-apiserver's webhook client.
func TestAudiencesIntersected(t *testing.T) {
	f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, _ *authenticationv1.TokenReview) {
		st := authenticatedAs("u")
		st.Audiences = []string{"b", "c"}
		writeReview(w, 200, st)
	})
	c := newClient(t, f.config())

	res, err := c.Review(ctxTimeout(t, 30*time.Second), "opaque-token-auds", "a", "b")
	if err != nil || strings.Join(res.Audiences, ",") != "b" {
		t.Fatalf("got (%v, %v), want audiences [b]", res, err)
	}
	_, err = c.Review(ctxTimeout(t, 30*time.Second), "opaque-token-auds", "a")
	if !errors.Is(err, ErrNotAuthenticated) {
		t.Fatalf("got %v, want ErrNotAuthenticated for an answer valid for none of [a]", err)
	}
}

// waitUntil polls cond, for conditions another goroutine brings about.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestTLSVerificationNotRetried: a server whose certificate does not
// verify (another CA, another name) is the same server on the next
// attempt: the failure is the answer at once, and says why.
func TestTLSVerificationNotRetried(t *testing.T) {
	f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, _ *authenticationv1.TokenReview) {
		writeReview(w, 200, authenticatedAs("u"))
	})
	for name, cfg := range map[string]Config{
		"unknown authority": {Server: f.URL, CAFile: writeCA(t), MaxRetries: 3},
		"wrong name":        {Server: f.URL, CAFile: f.caFile, TLSServerName: "elsewhere.example", MaxRetries: 3},
	} {
		t.Run(name, func(t *testing.T) {
			c := newClient(t, cfg)

			start := time.Now()
			_, err := c.Review(ctxTimeout(t, 30*time.Second), "opaque-token-tls")

			var u *UnavailableError
			if !errors.As(err, &u) || u.retry || !strings.Contains(err.Error(), "certificate") {
				t.Fatalf("got %#v (%v), want a TLS UnavailableError that is not retried", err, err)
			}
			if elapsed := time.Since(start); elapsed > 90*time.Millisecond {
				t.Errorf("got %s, want no backoff (the first is 100ms)", elapsed)
			}
		})
	}
	if got := f.calls(); got != 0 {
		t.Errorf("got %d reviews at a server whose certificate did not verify, want 0", got)
	}
}

// TestAnswerBounded: an answer over 4 MiB is not read whole: it says
// nothing about the token.
func TestAnswerBounded(t *testing.T) {
	f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, _ *authenticationv1.TokenReview) {
		st := authenticatedAs("u")
		st.User.Groups = []string{strings.Repeat("g", maxAnswerBytes)}
		writeReview(w, 200, st)
	})
	c := newClient(t, f.config())

	_, err := c.Review(ctxTimeout(t, 30*time.Second), "opaque-token-huge")

	var u *UnavailableError
	if !errors.As(err, &u) || u.Code != 200 || u.Reason != "answer over 4 MiB" {
		t.Fatalf("got %v, want ErrUnavailable: answer over 4 MiB", err)
	}
}

// TestAnswerStatusCodes: only 200 (tokenfed's) and 201 (kube-apiserver's
// for a created TokenReview) carry a review; another 2xx is a wrong URL.
func TestAnswerStatusCodes(t *testing.T) {
	for code, wantErr := range map[int]bool{200: false, 201: false, 202: true, 204: true} {
		f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, _ *authenticationv1.TokenReview) {
			writeReview(w, code, authenticatedAs("u"))
		})
		c := newClient(t, f.config())

		_, err := c.Review(ctxTimeout(t, 30*time.Second), "opaque-token-codes")

		if gotErr := errors.Is(err, ErrUnavailable); gotErr != wantErr || (!wantErr && err != nil) {
			t.Errorf("HTTP %d: got %v, want unavailable %v", code, err, wantErr)
		}
	}
}

// deadlinePassed is a context whose deadline has passed while its timer
// has not fired yet.
type deadlinePassed struct{ context.Context }

func (deadlinePassed) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }

// TestDeadlineBeforeContextTimer: the dialer's timeout on the connection,
// from ctx's deadline, can fire a moment before ctx's own timer; that
// failure is the deadline, not a connection failure to retry.
func TestDeadlineBeforeContextTimer(t *testing.T) {
	err := noAnswer(deadlinePassed{context.Background()}, os.ErrDeadlineExceeded, "opaque-token-deadline")

	var u *UnavailableError
	if !errors.As(err, &u) || u.retry || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %#v, want the deadline, not retried", err)
	}
}
