package e2e

import (
	"sync"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
)

// TestUpstreamCoalescing: 100 concurrent reviews of one token that needs
// its cluster (policy always) cost exactly one upstream TokenReview,
// counted on the wire by a proxy in front of the hub. The proxy holds the
// review for a second, so the other 99 arrive while it is in flight and
// must wait for it (coalescing) rather than find it cached.
func TestUpstreamCoalescing(t *testing.T) {
	const n, hold = 100, time.Second
	hub := startUpstreamHub(t)
	const ns = "burst"
	if _, err := hub.CreateNamespace(ctx(t), ns); err != nil {
		t.Fatal(err)
	}
	token := mintToken(t, hub, ns, "default")
	proxy := startCountingProxy(t, hub)
	proxy.hold.Store(int64(hold))
	p := startUpstreamTokenfed(t, "always", v1alpha1.Configuration{
		Issuers: []v1alpha1.Issuer{hubWithUpstream(hub, v1alpha1.UpstreamAlways, proxy.Kubeconfig)},
	})
	tf := tokenfedClient(t, p)
	// Opens the connection, so the burst does not race to dial.
	if st := mustReview(t, tf, "not-a-token", "warm-up"); st.Authenticated {
		t.Fatal("warm-up: an opaque token was accepted")
	}
	const (
		coalesced     = `tokenfed_cache_coalesced_total{cache="reviews"}`
		hits          = `tokenfed_cache_lookups_total{cache="reviews",result="hit"}`
		authenticated = `tokenfed_authentications_total{issuer="hub",outcome="authenticated"}`
	)
	before := map[string]float64{}
	for _, s := range []string{coalesced, hits, authenticated} {
		before[s] = metricValue(t, p, s)
	}

	statuses, errs := make([]*authv1.TokenReviewStatus, n), make([]error, n)
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-ready
			statuses[i], errs[i] = reviewOnce(ctx(t), tf, token)
		})
	}
	start := time.Now()
	close(ready)
	wg.Wait()
	elapsed := time.Since(start)

	want := "hub:system:serviceaccount:" + ns + ":default"
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("review %d: %v", i, errs[i])
		}
		wantUser(t, statuses[i], want, "concurrent review")
	}
	delta := func(s string) float64 { return metricValue(t, p, s) - before[s] }
	t.Logf("%d reviews in %s: %d upstream reviews, %.0f coalesced, %.0f cache hits, %.0f computed",
		n, elapsed.Round(time.Millisecond), proxy.Reviews(), delta(coalesced), delta(hits), delta(authenticated))
	if got := proxy.Reviews(); got != 1 {
		t.Fatalf("got %d upstream TokenReviews for %d concurrent reviews of one token, want 1", got, n)
	}
	if got := delta(authenticated); got != 1 {
		t.Fatalf("got %.0f computed authentications, want 1", got)
	}
	if delta(coalesced) == 0 {
		t.Fatalf("no lookup waited for the one in flight, want the burst to coalesce")
	}
	// One lookup computed; every other one either waited for it or found
	// its result cached. coalesced_total counts the waiters only.
	waited, cached := delta(coalesced), delta(hits)
	t.Run("coalesced metric counts waiters only", func(t *testing.T) {
		if waited+cached != n-1 {
			t.Fatalf("got %.0f coalesced + %.0f cached lookups for %d lookups of which 1 computed, want %d in all", waited, cached, n, n-1)
		}
	})
}
