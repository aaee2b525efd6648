package e2e

import (
	"testing"
	"time"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
)

// TestUpstreamLoopGuard: the hub uses tokenfed as its token webhook while
// tokenfed uses the hub as the upstream for opaque tokens. An opaque token
// neither can verify goes tokenfed -> hub -> tokenfed, and there stops: the
// review tokenfed sent carries the loop-guard audience, the hub passes its
// audiences on to its webhook, and tokenfed answers that at once. Without
// the guard each hop would start the next until some timeout.
func TestUpstreamLoopGuard(t *testing.T) {
	hub := startUpstreamHub(t)
	proxy := startCountingProxy(t, hub)
	p := startUpstreamTokenfed(t, "loop", v1alpha1.Configuration{
		Issuers:             []v1alpha1.Issuer{hubWithUpstream(hub, v1alpha1.UpstreamOnFailure, proxy.Kubeconfig)},
		OpaqueTokenUpstream: "hub",
	})
	err := hub.Restart(ctx(t), func(o *controlplane.Options) {
		o.Webhook = &controlplane.WebhookOptions{
			URL:    p.URL + "/authenticate",
			CAFile: p.Certs.CACert, ClientCertFile: p.Certs.ClientCert, ClientKeyFile: p.Certs.ClientKey,
		}
	})
	if err != nil {
		t.Fatalf("restarting the hub with tokenfed as its webhook: %v", err)
	}
	tf := tokenfedClient(t, p)

	const loops = `tokenfed_authentications_total{issuer="",outcome="loop"}`
	start := time.Now()
	st := mustReview(t, tf, "opaque-abc123", "opaque token")
	elapsed := time.Since(start)
	t.Logf("opaque token answered in %s: authenticated=%v error=%q; %d upstream reviews, %.0f loop answers",
		elapsed.Round(time.Millisecond), st.Authenticated, st.Error, proxy.Reviews(), metricValue(t, p, loops))
	if st.Authenticated {
		t.Fatal("an unknown opaque token was accepted")
	}
	if elapsed >= 3*time.Second {
		t.Fatalf("answered after %s, want under 3s", elapsed)
	}
	if got := proxy.Reviews(); got != 1 {
		t.Fatalf("got %d upstream reviews, want 1", got)
	}
	// The hub did call back, and that review was the one cut short.
	if got := metricValue(t, p, loops); got != 1 {
		t.Fatalf("got %.0f loop answers, want 1", got)
	}
}
