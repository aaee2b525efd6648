package e2e

import (
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
)

// Breaker defaults of pkg/authn/upstream.
const (
	breakerThreshold   = 5
	breakerMaxOpen     = 30 * time.Second
	breakerOpenSeries  = `tokenfed_upstream_reviews_total{issuer="hub",result="breaker_open"}`
	breakerStateSeries = `tokenfed_upstream_breaker_state{issuer="hub"}`
	// fastAnswer is "at once": far below any upstream timeout.
	fastAnswer = 500 * time.Millisecond
)

// TestUpstreamOutage: when the hub's TokenReview API fails, reviews that
// need it are answered 503 (never "not authenticated", which callers would
// cache as a denial) while tokens tokenfed verifies alone (whenBound,
// unbound) are still accepted. First the API hangs: the first reviews each
// cost the upstream timeout, until the circuit breaker opens; from then on
// answers come at once. Then it goes away (connection refused), and comes
// back on the same address: tokenfed recovers by itself within the
// breaker's longest open period.
func TestUpstreamOutage(t *testing.T) {
	hub := startUpstreamHub(t)
	const ns = "outage"
	bound := podBoundTokens(t, hub, ns, breakerThreshold+2)
	before, during, hung := bound[0], bound[1], bound[2:]
	unbound := mintToken(t, hub, ns, "default")
	proxy := startCountingProxy(t, hub)
	const timeout = 3 * time.Second
	issuer := hubWithUpstream(hub, v1alpha1.UpstreamWhenBound, proxy.Kubeconfig)
	issuer.Upstream.Timeout = metav1.Duration{Duration: timeout}
	p := startUpstreamTokenfed(t, "outage", v1alpha1.Configuration{Issuers: []v1alpha1.Issuer{issuer}})
	tf := tokenfedClient(t, p)
	want := "hub:system:serviceaccount:" + ns + ":default"
	wantUser(t, mustReview(t, tf, before, "bound token, upstream up"), want, "bound token, upstream up")

	// Hung: as many distinct tokens as it takes to open the breaker, at
	// once, each waiting out the timeout.
	proxy.hold.Store(int64(time.Hour))
	var wg sync.WaitGroup
	hungLatencies, hungErrs := make([]time.Duration, len(hung)), make([]error, len(hung))
	for i, token := range hung {
		wg.Go(func() {
			start := time.Now()
			_, hungErrs[i] = reviewOnce(ctx(t), tf, token)
			hungLatencies[i] = time.Since(start).Round(time.Millisecond)
		})
	}
	wg.Wait()
	for i, err := range hungErrs {
		if !apierrors.IsServiceUnavailable(err) {
			t.Fatalf("review %d with the upstream hung: got %v, want 503", i, err)
		}
	}
	open := latencies503(t, tf, during, 10, 20*time.Millisecond)
	wantUser(t, mustReview(t, tf, unbound, "unbound token, breaker open"), want, "unbound token, breaker open")
	t.Logf("upstream hung: %v to answer %d reviews (timeout %s); then, breaker open: %v", hungLatencies, len(hung), timeout, open)
	if got := metricValue(t, p, breakerStateSeries); got != 1 {
		t.Fatalf("breaker state: got %.0f, want 1 (open)", got)
	}

	// Stopped: nothing listens any more.
	proxy.hold.Store(0)
	proxy.Stop()
	stopped := latencies503(t, tf, during, 3*breakerThreshold, pollInterval)
	wantUser(t, mustReview(t, tf, unbound, "unbound token, upstream stopped"), want, "unbound token, upstream stopped")
	t.Logf("upstream stopped: %v; %.0f answers by the open breaker in all", stopped, metricValue(t, p, breakerOpenSeries))

	proxy.Restart()
	restarted := time.Now()
	for {
		st, err := reviewOnce(ctx(t), tf, during)
		if err == nil {
			wantUser(t, st, want, "bound token after recovery")
			break
		}
		if !apierrors.IsServiceUnavailable(err) {
			t.Fatalf("review while recovering: got %v, want 503 or an answer", err)
		}
		if time.Since(restarted) > breakerMaxOpen+revocationMargin {
			t.Fatalf("still unavailable %s after the upstream came back, want recovery within %s", time.Since(restarted), breakerMaxOpen)
		}
		time.Sleep(pollInterval)
	}
	t.Logf("recovered %s after the upstream came back; breaker state %.0f", time.Since(restarted).Round(time.Millisecond), metricValue(t, p, breakerStateSeries))
	if got := metricValue(t, p, breakerStateSeries); got != 0 {
		t.Fatalf("breaker state after recovery: got %.0f, want 0 (closed)", got)
	}
}

// latencies503 reviews token n times, every interval, and fails unless
// each answer is a 503 well under any upstream timeout.
func latencies503(t *testing.T, c kubernetes.Interface, token string, n int, interval time.Duration) []time.Duration {
	t.Helper()
	var out []time.Duration
	for i := range n {
		start := time.Now()
		_, err := reviewOnce(ctx(t), c, token)
		d := time.Since(start)
		out = append(out, d.Round(time.Millisecond))
		if !apierrors.IsServiceUnavailable(err) {
			t.Fatalf("review %d: got %v, want 503", i, err)
		}
		if d >= fastAnswer {
			t.Fatalf("review %d took %s, want under %s (latencies so far: %v)", i, d, fastAnswer, out)
		}
		time.Sleep(interval)
	}
	return out
}
