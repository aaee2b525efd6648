package e2e

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
)

// rateLoop is how many reviews each caller sends in its tight loop; the
// busy policy allows 3 at once, then 1 a second.
const (
	rateLoop  = 8
	busyBurst = 3
	busyQPS   = 1
)

// loopResult is one caller's tight loop.
type loopResult struct {
	answers  []answer
	statuses []*authv1.TokenReviewStatus
	elapsed  time.Duration
	err      error
}

// reviewLoop sends n reviews of token back to back as bearer.
func reviewLoop(ctx context.Context, e *appsEnv, bearer, token string, n int) loopResult {
	c := bareClient(e.p)
	var r loopResult
	start := time.Now()
	for range n {
		a, st, err := tryReview(ctx, c, e.p, bearer, token)
		if err != nil {
			r.err = err
			return r
		}
		r.answers, r.statuses = append(r.answers, a), append(r.statuses, st)
	}
	r.elapsed = time.Since(start)
	return r
}

// testRateLimits: the busy caller goes over its policy's rate while the app
// (another policy) sends as many reviews at the same time.
func testRateLimits(t *testing.T, e *appsEnv) {
	throttled := decisions("busy", "throttled")
	var busy, app loopResult
	delta := grew(t, e.operator, e.p, []string{throttled}, func() {
		var wg sync.WaitGroup
		wg.Go(func() { busy = reviewLoop(ctx(t), e, e.busyToken, e.aToken, rateLoop) })
		wg.Go(func() { app = reviewLoop(ctx(t), e, e.appToken, e.aToken, rateLoop) })
		wg.Wait()
	})
	if busy.err != nil || app.err != nil {
		t.Fatalf("busy loop: %v; app loop: %v", busy.err, app.err)
	}

	t.Run("over its rate the caller gets 429 with Retry-After", func(t *testing.T) {
		for i, a := range busy.answers[:busyBurst] {
			wantReviewUser(t, a, busy.statuses[i], "hub:system:serviceaccount:apps:client", "busy review "+strconv.Itoa(i+1))
		}
		if a := busy.answers[busyBurst]; a.code != http.StatusTooManyRequests || a.retryAfter != "1" {
			t.Fatalf("review %d of the busy loop (%s): got HTTP %d Retry-After %q, want 429 Retry-After 1", busyBurst+1, busy.elapsed, a.code, a.retryAfter)
		}
		admitted, limited := 0, 0
		for i, a := range busy.answers {
			switch a.code {
			case http.StatusOK:
				admitted++
			case http.StatusTooManyRequests:
				limited++
				if s, err := strconv.Atoi(a.retryAfter); err != nil || s < 1 {
					t.Fatalf("busy review %d: got Retry-After %q, want whole seconds >= 1", i+1, a.retryAfter)
				}
			default:
				t.Fatalf("busy review %d: got HTTP %d %s, want 200 or 429", i+1, a.code, a.body)
			}
		}
		// A token bucket admits at most its burst plus qps per second.
		if most := busyBurst + int(math.Ceil(busy.elapsed.Seconds()*busyQPS)); admitted > most {
			t.Fatalf("busy loop of %s: got %d admitted, want at most %d", busy.elapsed, admitted, most)
		}
		t.Logf("busy loop of %d in %s: %d admitted, %d answered 429", rateLoop, busy.elapsed, admitted, limited)
		wantDelta(t, delta, throttled, float64(limited), "busy loop")
	})
	t.Run("another policy's caller is unaffected", func(t *testing.T) {
		for i, a := range app.answers {
			wantReviewUser(t, a, app.statuses[i], "hub:system:serviceaccount:apps:client", "app review "+strconv.Itoa(i+1))
		}
		t.Logf("app loop of %d in %s: all 200", rateLoop, app.elapsed)
	})
	t.Run("after Retry-After the caller is admitted again", func(t *testing.T) {
		time.Sleep(time.Second / busyQPS)
		a, st := review(t, bareClient(e.p), e.p, e.busyToken, e.aToken)
		wantReviewUser(t, a, st, "hub:system:serviceaccount:apps:client", "busy review after Retry-After")
	})
}
