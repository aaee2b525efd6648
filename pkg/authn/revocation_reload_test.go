package authn

import (
	"context"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn/revocation"
)

// watchConfig is hubConfig with an onFailure upstream and revocation
// watch. The fake upstream answers no list or watch, so the watch never
// syncs: this test is about its lifecycle only.
func watchConfig(t *testing.T, up *fakeUpstream) *v1alpha1.Configuration {
	cfg := hubConfig(t, up, v1alpha1.UpstreamOnFailure)
	cfg.Issuers[0].Revocation = &v1alpha1.Revocation{Mode: v1alpha1.RevocationWatch}
	return defaulted(t, cfg)
}

// withOutage is a copy of cfg whose first issuer's maxWatchOutage is d.
func withOutage(cfg *v1alpha1.Configuration, d time.Duration) *v1alpha1.Configuration {
	out := *cfg
	out.Issuers = slices.Clone(cfg.Issuers)
	r := *out.Issuers[0].Revocation
	r.MaxWatchOutage = metav1.Duration{Duration: d}
	out.Issuers[0].Revocation = &r
	return &out
}

func waitRunning(t *testing.T, w *revocation.Watcher, want bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for w.Running() != want {
		if time.Now().After(deadline) {
			t.Fatalf("watcher running: got %v, want %v", !want, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A reload keeps an unchanged issuer's revocation watch running (the same
// watcher, with its objects), and stops a changed issuer's once the chain
// that held it is retired; the changed issuer's new watch runs instead.
func TestSuccessorRevocationWatch(t *testing.T) {
	up := newFakeUpstream(t, answerSA)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := watchConfig(t, up)
	c1 := newChain(t, cfg)
	c1.Run(ctx)
	w1 := c1.issuers["hub"].revocation
	waitRunning(t, w1, true)

	c2, err := c1.Successor(ctx, withOutage(cfg, cfg.Issuers[0].Revocation.MaxWatchOutage.Duration))
	if err != nil {
		t.Fatal(err)
	}
	c2.Run(ctx)
	c1.Retire(c2)
	if c2.issuers["hub"].revocation != w1 {
		t.Fatal("unchanged issuer: got a new watcher, want the running one carried over")
	}
	time.Sleep(100 * time.Millisecond)
	if !w1.Running() {
		t.Fatal("unchanged issuer: its watch stopped when the old chain was retired")
	}

	c3, err := c2.Successor(ctx, withOutage(cfg, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	c3.Run(ctx)
	c2.Retire(c3)
	w3 := c3.issuers["hub"].revocation
	if w3 == w1 {
		t.Fatal("changed issuer: kept the old watcher")
	}
	waitRunning(t, w1, false)
	waitRunning(t, w3, true)
}
