package authn

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	tffed "github.com/tokenfed/tokenfed/pkg/testing/federation"
)

// hubWatchConfig is the hub as an issuer with an onFailure upstream (the
// hub's admin) and a revocation watch.
func hubWatchConfig(hub *controlplane.ControlPlane, maxOutage time.Duration) *v1alpha1.Configuration {
	is := tffed.HubIssuer("hub", hub)
	is.Upstream = &v1alpha1.Upstream{Kubeconfig: hub.Kubeconfig, Policy: v1alpha1.UpstreamOnFailure}
	is.Revocation = &v1alpha1.Revocation{Mode: v1alpha1.RevocationWatch, MaxWatchOutage: metav1.Duration{Duration: maxOutage}}
	cfg := &v1alpha1.Configuration{
		Server:  v1alpha1.Server{TLSCertFile: "tls.crt", TLSPrivateKeyFile: "tls.key"},
		Callers: v1alpha1.Callers{AllowAnonymous: true},
		Issuers: []v1alpha1.Issuer{is},
	}
	v1alpha1.SetDefaults(cfg)
	return cfg
}

func startHub(t *testing.T) *controlplane.ControlPlane {
	t.Helper()
	hub := controlplane.StartT(t, controlplane.Options{Name: "hub"})
	if err := hub.AllowAnonymousIssuerDiscovery(t.Context()); err != nil {
		t.Fatal(err)
	}
	return hub
}

// Reloads that change a watching issuer against a real cluster stop each
// retired watch: no goroutine is left behind.
func TestReloadsStopRevocationWatches(t *testing.T) {
	hub := startHub(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := hubWatchConfig(hub, time.Minute)
	if errs := v1alpha1.Validate(cfg); len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	c, err := New(ctx, cfg, NewChainMetrics(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	c.Run(ctx)
	reload := func(i int) {
		t.Helper()
		next, err := c.Successor(ctx, hubWatchConfig(hub, time.Minute+time.Duration(i%2+1)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		next.Run(ctx)
		wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
		if err := next.AwaitAddedKeys(wctx); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		wcancel()
		c.Retire(next)
		c = next
	}
	for i := range 3 {
		reload(i)
	}
	time.Sleep(500 * time.Millisecond)
	before := runtime.NumGoroutine()
	for i := range 30 {
		reload(i)
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before+5 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+5 {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after 30 reloads, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}
