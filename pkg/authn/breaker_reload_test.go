package authn

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
)

// An issuer whose upstream breaker is open, then removed (or given another
// upstream) by a hot reload, must not leave tokenfed_upstream_breaker_state
// at 1 for its name: the series outlives the client that set it, and the
// alert TokenfedUpstreamBreakerOpen (config/components/monitoring) fires
// until the pod restarts, for a breaker that no longer exists.

func TestReloadDoesNotLeaveARetiredBreakerOpen(t *testing.T) {
	up := newFakeUpstream(t, answer500)
	cfg := hubConfig(t, up, v1alpha1.UpstreamAlways)
	v1alpha1.SetDefaults(cfg)
	reg := prometheus.NewRegistry()
	m := NewChainMetrics(reg)
	c, err := New(context.Background(), cfg, m)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.Run(ctx)
	tok := plainToken.mint(t)
	for range 6 {
		_, _, _ = c.AuthenticateToken(ctx, tok)
	}
	if got := breakerSeries(t, reg, "hub"); got != 1 {
		t.Fatalf("breaker state %v after 6 failures, want 1 (open)", got)
	}

	for _, tc := range []struct {
		name   string
		change func(cfg *v1alpha1.Configuration)
	}{
		{"upstream removed", func(cfg *v1alpha1.Configuration) { cfg.Issuers[0].Upstream = nil }},
		{"issuer removed", func(cfg *v1alpha1.Configuration) { cfg.Issuers = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := hubConfig(t, nil, "")
			tc.change(next)
			v1alpha1.SetDefaults(next)
			s, err := c.Successor(ctx, next)
			if err != nil {
				t.Fatal(err)
			}
			s.Run(ctx)
			c.Retire(s)
			if got := breakerSeries(t, reg, "hub"); got > 0 {
				t.Errorf("tokenfed_upstream_breaker_state{issuer=hub} is %v after the reload, want the series gone or 0", got)
			}
		})
	}
}

// breakerSeries is tokenfed_upstream_breaker_state{issuer} as /metrics
// shows it, -1 when there is no such series.
func breakerSeries(t *testing.T, reg prometheus.Gatherer, issuer string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "tokenfed_upstream_breaker_state" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "issuer" && l.GetValue() == issuer {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}
