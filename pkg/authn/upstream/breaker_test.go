package upstream

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/tokenfed/tokenfed/pkg/testing/fakeapiserver"
)

// answerKind is how the fake apiserver answers one breaker step.
type answerKind int

const (
	succeed answerKind = iota
	fail500
	fail503RetryAfter7
	fail429RetryAfter7
	fail429RetryAfter3600
	apiserver429RetryAfter7 // kube-apiserver's own 429: Status body and header
	forbidden403
	// Rejections: the cluster answered, about the review or the token.
	tooLarge413
	quotingToken
)

// rejects says the step's answer rejects the token.
func (a answerKind) rejects() bool { return a == tooLarge413 || a == quotingToken }

func (a answerKind) answer() fakeapiserver.AnswerFunc {
	switch a {
	case fail500:
		return fakeapiserver.Text(http.StatusInternalServerError, "")
	case fail503RetryAfter7:
		return fakeapiserver.Text(http.StatusServiceUnavailable, "7")
	case fail429RetryAfter7:
		return fakeapiserver.Text(http.StatusTooManyRequests, "7")
	case fail429RetryAfter3600:
		return fakeapiserver.Text(http.StatusTooManyRequests, "3600")
	case apiserver429RetryAfter7:
		return fakeapiserver.APIStatus(http.StatusTooManyRequests, metav1.StatusReasonTooManyRequests, 7)
	case forbidden403:
		return fakeapiserver.APIStatus(http.StatusForbidden, metav1.StatusReasonForbidden, 0)
	case tooLarge413:
		return fakeapiserver.APIStatus(http.StatusRequestEntityTooLarge, metav1.StatusReasonRequestEntityTooLarge, 0)
	case quotingToken:
		return fakeapiserver.Answer(authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "u", UID: hex.EncodeToString([]byte(testToken))}})
	}
	return answerAuthenticated
}

// step advances the fake clock, then reviews once while the server would
// answer with answer. sent says whether the review reached the server.
type step struct {
	advance time.Duration
	answer  answerKind
	sent    bool
}

func repeat(s step, n int) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = s
	}
	return out
}

var (
	fiveFailures = repeat(step{answer: fail500, sent: true}, 5)
	refused      = step{answer: succeed, sent: false}
)

var breakerCases = []struct {
	name  string
	steps []step
}{
	{
		name: "five 500s open; after MinOpen a single probe goes out and success closes",
		steps: concat(fiveFailures,
			[]step{
				refused,
				{advance: 999 * time.Millisecond, answer: succeed, sent: false},
				{advance: time.Millisecond, answer: succeed, sent: true},
				{answer: succeed, sent: true},
			},
			// Closed again with a fresh count: four failures do not open it.
			repeat(step{answer: fail500, sent: true}, 4),
			[]step{{answer: fail500, sent: true}, refused}),
	},
	{
		name: "four 500s do not open",
		steps: concat(repeat(step{answer: fail500, sent: true}, 4),
			[]step{{answer: succeed, sent: true}}),
	},
	{
		name: "a failed probe doubles the open period, up to MaxOpen",
		steps: concat(fiveFailures, []step{
			{advance: time.Second, answer: fail500, sent: true},
			{advance: 2*time.Second - time.Millisecond, answer: succeed, sent: false},
			{advance: time.Millisecond, answer: fail500, sent: true},
			{advance: 4 * time.Second, answer: fail500, sent: true},
			{advance: 8 * time.Second, answer: fail500, sent: true},
			{advance: 16 * time.Second, answer: fail500, sent: true},
			// 32s is capped at MaxOpen.
			{advance: 30*time.Second - time.Millisecond, answer: succeed, sent: false},
			{advance: time.Millisecond, answer: succeed, sent: true},
			{answer: succeed, sent: true},
		}),
	},
	{
		name: "429 with Retry-After: 7 keeps it open for 7s",
		steps: concat(repeat(step{answer: fail429RetryAfter7, sent: true}, 5), []step{
			{advance: 7*time.Second - time.Millisecond, answer: succeed, sent: false},
			{advance: time.Millisecond, answer: succeed, sent: true},
		}),
	},
	{
		name: "kube-apiserver's 429 Status with retryAfterSeconds 7 keeps it open for 7s",
		steps: concat(repeat(step{answer: apiserver429RetryAfter7, sent: true}, 5), []step{
			{advance: 7*time.Second - time.Millisecond, answer: succeed, sent: false},
			{advance: time.Millisecond, answer: succeed, sent: true},
		}),
	},
	{
		name: "503 with Retry-After: 7 keeps it open for 7s",
		steps: concat(repeat(step{answer: fail503RetryAfter7, sent: true}, 5), []step{
			{advance: 7*time.Second - time.Millisecond, answer: succeed, sent: false},
			{advance: time.Millisecond, answer: succeed, sent: true},
		}),
	},
	{
		name: "Retry-After beyond MaxOpen is capped at MaxOpen",
		steps: concat(repeat(step{answer: fail429RetryAfter3600, sent: true}, 5), []step{
			{advance: 30*time.Second - time.Millisecond, answer: succeed, sent: false},
			{advance: time.Millisecond, answer: succeed, sent: true},
		}),
	},
	{
		// The first 403 is remembered for CredentialHold (refusals): the
		// next nine are answered without a call, and never open the
		// breaker; after the hold one call checks again.
		name: "403s are not faults and never open",
		steps: concat([]step{{answer: forbidden403, sent: true}}, repeat(step{answer: forbidden403, sent: false}, 9),
			[]step{{advance: CredentialHold, answer: forbidden403, sent: true}, {advance: CredentialHold, answer: succeed, sent: true}, {answer: succeed, sent: true}}),
	},
	{
		// A user who shapes their own claims may make the cluster's answer
		// about their token look like an echo; that must not shut the
		// circuit for every other token.
		name:  "rejections are not faults and never open",
		steps: concat(repeat(step{answer: tooLarge413, sent: true}, 10), repeat(step{answer: quotingToken, sent: true}, 10), []step{{answer: succeed, sent: true}}),
	},
	{
		name: "a rejection between 500s resets the count",
		steps: concat(repeat(step{answer: fail500, sent: true}, 4), []step{{answer: quotingToken, sent: true}},
			repeat(step{answer: fail500, sent: true}, 4), []step{{answer: succeed, sent: true}}),
	},
	{
		name: "a 403 between 500s resets the count",
		steps: concat(repeat(step{answer: fail500, sent: true}, 4), []step{{answer: forbidden403, sent: true}},
			[]step{{advance: CredentialHold, answer: fail500, sent: true}},
			repeat(step{answer: fail500, sent: true}, 3), []step{{answer: succeed, sent: true}}),
	},
}

func concat(parts ...[]step) []step {
	var out []step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestBreaker(t *testing.T) {
	for _, tc := range breakerCases {
		t.Run(tc.name, func(t *testing.T) {
			clk := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			srv := fakeapiserver.Start(t, answerAuthenticated)
			c, _ := newTestClient(t, srv, Options{Clock: clk})
			for i, s := range tc.steps {
				clk.Step(s.advance)
				srv.SetAnswer(s.answer.answer())
				before := srv.Hits.Load()

				_, err := c.Review(context.Background(), testToken, nil)

				sent := srv.Hits.Load() != before
				if sent != s.sent {
					t.Fatalf("step %d: got sent=%v (err %v), want %v", i, sent, err, s.sent)
				}
				checkStepErr(t, i, s, err)
			}
		})
	}
}

func checkStepErr(t *testing.T, i int, s step, err error) {
	t.Helper()
	checkNoToken(t, err)
	switch {
	case !s.sent && s.answer == forbidden403:
		if !errors.Is(err, ErrCredentialRefused) || !strings.Contains(err.Error(), "HTTP 403") {
			t.Fatalf("step %d: got %v, want the remembered ErrCredentialRefused: HTTP 403", i, err)
		}
	case !s.sent:
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "circuit open") {
			t.Fatalf("step %d: got %v, want ErrUnavailable: circuit open", i, err)
		}
	case s.answer == succeed:
		if err != nil {
			t.Fatalf("step %d: got %v, want success", i, err)
		}
	case s.answer.rejects():
		if !errors.Is(err, ErrRejected) {
			t.Fatalf("step %d: got %v, want ErrRejected", i, err)
		}
	case s.answer == forbidden403:
		if !errors.Is(err, ErrCredentialRefused) || !strings.Contains(err.Error(), "HTTP 403") {
			t.Fatalf("step %d: got %v, want ErrCredentialRefused: HTTP 403", i, err)
		}
	default:
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "HTTP") {
			t.Fatalf("step %d: got %v, want ErrUnavailable: HTTP ...", i, err)
		}
	}
}

// While the probe is out, the circuit stays shut for everyone else.
func TestBreakerHalfOpenSendsOneProbe(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := fakeapiserver.Start(t, fakeapiserver.Text(http.StatusInternalServerError, ""))
	c, m := newTestClient(t, srv, Options{Clock: clk, Breaker: BreakerOptions{Threshold: 1}})
	if _, err := c.Review(context.Background(), testToken, nil); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	if got := gauge(t, m); got != float64(open) {
		t.Errorf("got breaker state %v, want %v (open)", got, float64(open))
	}
	clk.Step(time.Second)

	arrived, release := make(chan struct{}), make(chan struct{})
	srv.SetAnswer(func(w http.ResponseWriter, r *http.Request, review *authenticationv1.TokenReview) {
		close(arrived)
		<-release
		answerAuthenticated(w, r, review)
	})
	probe := make(chan error, 1)
	go func() {
		_, err := c.Review(context.Background(), testToken, nil)
		probe <- err
	}()
	<-arrived

	_, err := c.Review(context.Background(), testToken, nil)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "circuit open") {
		t.Errorf("got %v during the probe, want ErrUnavailable: circuit open", err)
	}
	if n := srv.Hits.Load(); n != 2 {
		t.Errorf("got %d requests, want 2 (the failure and the probe)", n)
	}
	close(release)
	if err := <-probe; err != nil {
		t.Fatalf("got %v from the probe, want success", err)
	}
	if got := gauge(t, m); got != float64(closed) {
		t.Errorf("got breaker state %v, want %v (closed)", got, float64(closed))
	}
	srv.SetAnswer(answerAuthenticated)
	if _, err := c.Review(context.Background(), testToken, nil); err != nil {
		t.Errorf("got %v after the probe closed the circuit, want success", err)
	}
	for result, want := range map[string]float64{"error": 1, "breaker_open": 1, "authenticated": 2} {
		if got := counter(t, m, result); got != want {
			t.Errorf("got %v reviews with result %q, want %v", got, result, want)
		}
	}
}

func counter(t *testing.T, m *Metrics, result string) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.calls.WithLabelValues("hub", result).Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetCounter().GetValue()
}

func gauge(t *testing.T, m *Metrics) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.breaker.WithLabelValues("hub").Write(&out); err != nil {
		t.Fatal(fmt.Errorf("breaker gauge: %w", err))
	}
	return out.GetGauge().GetValue()
}
