// Package faults injects the faults of issue 15 into a real tokenfed
// process, over real TLS and HTTP, and holds each to a figure: how long the
// answer takes, how many upstream calls it costs, what HTTP status and
// authenticated value it gets, or the cache hit rate of real tokens.
//
// What misbehaves is real on the wire but made to misbehave on purpose: a
// JWKS endpoint and an upstream TokenReview API are httptest-style servers
// of this package (a real kube-apiserver cannot be told to answer 429 or
// hang). Where a well-behaved cluster is needed, it is a real
// kube-apiserver (pkg/testing/controlplane). Every figure is a constant
// here, named for what it bounds; docs/reliability.md#faults lists them.
package faults

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/secretscan"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// TestMain runs the tests, then scans the log and answers of every
// tokenfed they started (at -v=10) for every token they made; any part of
// one fails the run.
// The hub kube-apiserver, if a test started it, is stopped after.
func TestMain(m *testing.M) {
	code := secretscan.Main(m, tokenfedproc.Recorded, tokenfedproc.RemoveRecorded)
	stopSharedHub()
	os.Exit(code)
}

const reviewPath = "/apis/authentication.k8s.io/v1/tokenreviews"

// tokenfed is a running process and an mTLS client of it.
type tokenfed struct {
	p *tokenfedproc.Process
	c *http.Client
}

// startTokenfed runs tokenfed with cfg until the test ends, and prints its
// log when the test failed. mutate may adjust the process options.
func startTokenfed(t *testing.T, cfg v1alpha1.Configuration, mutate ...func(*tokenfedproc.Options)) *tokenfed {
	t.Helper()
	opts := tokenfedproc.Options{Dir: t.TempDir(), Config: cfg}
	for _, m := range mutate {
		m(&opts)
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
	return &tokenfed{p: p, c: p.Client()}
}

// result is one review as its caller saw it.
type result struct {
	code       int
	body       string
	retryAfter string
	status     authenticationv1.TokenReviewStatus
	latency    time.Duration
}

func (r result) String() string {
	if r.code == http.StatusOK {
		return fmt.Sprintf("200 authenticated=%v user=%q error=%q in %s", r.status.Authenticated, r.status.User.Username, r.status.Error, r.latency.Round(time.Millisecond))
	}
	return fmt.Sprintf("%d %.200q in %s", r.code, r.body, r.latency.Round(time.Millisecond))
}

// review posts a v1 TokenReview. It does not touch testing.T, so
// goroutines may call it.
func (tf *tokenfed) review(token string, audiences ...string) (result, error) {
	a, err := tokenfedproc.PostReview(tf.c, tf.p.URL+reviewPath, tokenfedproc.ReviewBody(token, audiences))
	return result{code: a.Code, body: a.Body, retryAfter: a.RetryAfter, status: a.Status, latency: a.Latency}, err
}

func (tf *tokenfed) mustReview(t *testing.T, token string, audiences ...string) result {
	t.Helper()
	r, err := tf.review(token, audiences...)
	if err != nil {
		t.Fatalf("review: %v", err)
	}
	return r
}

// accepted fails unless r authenticates username within maxLatency.
func accepted(t *testing.T, r result, username string, maxLatency time.Duration) {
	t.Helper()
	if r.code != http.StatusOK || !r.status.Authenticated || r.status.User.Username != username {
		t.Fatalf("got %s, want 200 authenticated as %q", r, username)
	}
	if r.latency > maxLatency {
		t.Fatalf("got %s, want an answer within %s", r, maxLatency)
	}
}

// refused fails unless r is 200, authenticated: false, with an error
// containing wantErr, within maxLatency.
func refused(t *testing.T, r result, wantErr string, maxLatency time.Duration) {
	t.Helper()
	if r.code != http.StatusOK || r.status.Authenticated || !strings.Contains(r.status.Error, wantErr) {
		t.Fatalf("got %s, want 200 authenticated=false with an error containing %q", r, wantErr)
	}
	if r.latency > maxLatency {
		t.Fatalf("got %s, want an answer within %s", r, maxLatency)
	}
}

// unavailable fails unless r is 503 without Retry-After (which a calling
// kube-apiserver would retry), within maxLatency.
func unavailable(t *testing.T, r result, wantMsg string, maxLatency time.Duration) {
	t.Helper()
	if r.code != http.StatusServiceUnavailable || r.retryAfter != "" || !strings.Contains(r.body, wantMsg) {
		t.Fatalf("got %s (Retry-After %q), want 503 without Retry-After saying %q", r, r.retryAfter, wantMsg)
	}
	if r.latency > maxLatency {
		t.Fatalf("got %s, want an answer within %s", r, maxLatency)
	}
}

// metric is the value of one series of tokenfed's /metrics, given exactly
// as it is printed (name and labels); 0 when it does not exist yet.
func (tf *tokenfed) metric(t *testing.T, series string) float64 {
	t.Helper()
	lines, err := tf.p.MetricLines(series + " ")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(lines)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("metric %s: %v", series, err)
	}
	return v
}

// noServerFaults fails if tokenfed answered any review with a 5xx.
func (tf *tokenfed) noServerFaults(t *testing.T) { tf.only5xx(t, "") }

// only5xx fails if tokenfed answered any review with a 5xx other than
// allowed ("" allows none).
func (tf *tokenfed) only5xx(t *testing.T, allowed string) {
	t.Helper()
	lines, err := tf.p.MetricLines(`tokenfed_tokenreview_requests_total{api_version="v1",code="5`)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(lines, "\n") {
		if line != "" && (allowed == "" || !strings.Contains(line, `code="`+allowed+`"`)) {
			t.Fatalf("got 5xx answers: %s, want none but %q", lines, allowed)
		}
	}
}

// waitFor polls cond every 20ms until it holds or timeout passes, and
// returns how long it took; cond's string says what it last saw.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok, saw := cond()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("got %s after %s, want %s", saw, timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func duration(d time.Duration) metav1.Duration { return metav1.Duration{Duration: d} }
