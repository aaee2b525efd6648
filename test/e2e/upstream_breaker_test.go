package e2e

import (
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
)

// breakerMinOpen is the breaker's first open period (pkg/authn/upstream).
const breakerMinOpen = time.Second

// TestUpstreamBreakerIgnoresForbidden: a 403 from the hub (tokenfed's
// credentials lost `create tokenreviews`) is tokenfed's problem, not an
// outage of the hub, and must not open the circuit breaker
// (pkg/authn/upstream/breaker.go: "Only faults of the cluster count: a 4xx
// other than 429 is our request's problem"). Nor may it multiply: the
// refusal is remembered for upstream.CredentialHold, so the reviews after
// the first are answered without a call, each a 503 with the reason (no
// Retry-After, which a calling kube-apiserver does not retry).
func TestUpstreamBreakerIgnoresForbidden(t *testing.T) {
	hub := startUpstreamHub(t)
	token := podBoundTokens(t, hub, "forbidden", 1)[0]
	proxy := startCountingProxy(t, hub)
	proxy.forbid.Store(true)
	p := startUpstreamTokenfed(t, "forbidden", v1alpha1.Configuration{
		Issuers: []v1alpha1.Issuer{hubWithUpstream(hub, v1alpha1.UpstreamWhenBound, proxy.Kubeconfig)},
	})
	tf := tokenfedClient(t, p)
	const want = "issuer's cluster is unavailable: it refuses tokenfed's credential: HTTP 403 Forbidden"
	for i := range 2 * breakerThreshold {
		st, err := reviewOnce(ctx(t), tf, token)
		if !apierrors.IsServiceUnavailable(err) || !strings.Contains(err.Error(), want) {
			t.Fatalf("review %d, upstream answering 403: got %+v, %v, want 503 saying %q", i, st, err, want)
		}
	}
	if got := proxy.Reviews(); got != 1 {
		t.Fatalf("got %d upstream reviews for %d reviews, want 1: the refusal is remembered", got, 2*breakerThreshold)
	}
	if got := metricValue(t, p, breakerOpenSeries); got != 0 {
		t.Fatalf("got %s = %.0f, want 0: the breaker opened on 403s", breakerOpenSeries, got)
	}
}

// TestUpstreamBreakerConcurrentFailures: a burst of reviews that fail
// together (here: the hub hangs and they all time out at once) opens the
// breaker for its first open period, 1s, not longer: the period doubles per
// failed probe, not per failure that was already in flight. Otherwise a
// few seconds of hiccup under load shut the upstream out for 30s.
func TestUpstreamBreakerConcurrentFailures(t *testing.T) {
	hub := startUpstreamHub(t)
	tokens := podBoundTokens(t, hub, "burst", 2*breakerThreshold+1)
	burst, probe := tokens[1:], tokens[0]
	proxy := startCountingProxy(t, hub)
	issuer := hubWithUpstream(hub, v1alpha1.UpstreamWhenBound, proxy.Kubeconfig)
	issuer.Upstream.Timeout = metav1.Duration{Duration: 2 * time.Second}
	p := startUpstreamTokenfed(t, "burst", v1alpha1.Configuration{Issuers: []v1alpha1.Issuer{issuer}})
	tf := tokenfedClient(t, p)

	proxy.hold.Store(int64(time.Hour))
	var wg sync.WaitGroup
	for _, token := range burst {
		wg.Go(func() {
			if _, err := reviewOnce(ctx(t), tf, token); !apierrors.IsServiceUnavailable(err) {
				t.Errorf("review with the upstream hung: got %v, want 503", err)
			}
		})
	}
	wg.Wait()
	proxy.hold.Store(0)
	healthy := time.Now()
	limit := breakerMinOpen + revocationMargin
	for {
		_, err := reviewOnce(ctx(t), tf, probe)
		if err == nil {
			break
		}
		if !apierrors.IsServiceUnavailable(err) {
			t.Fatalf("review after the upstream recovered: got %v, want 503 or an answer", err)
		}
		if time.Since(healthy) > limit {
			t.Fatalf("still unavailable %s after the upstream recovered from %d concurrent timeouts, want recovery within the first open period %s (+%s)",
				time.Since(healthy).Round(time.Millisecond), len(burst), breakerMinOpen, revocationMargin)
		}
		time.Sleep(pollInterval)
	}
	t.Logf("recovered %s after the upstream did", time.Since(healthy).Round(time.Millisecond))
}
