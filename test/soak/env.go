package main

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/federation"
	"github.com/tokenfed/tokenfed/pkg/testing/staticissuer"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// Names on the hub and in the static issuer's tokens.
const (
	soakNS = "soak"
	// upstreamSA owns the hub tokens, bound to the pod upstreamPod.
	upstreamSA, upstreamPod = "app", "app-0"
	// freshSA is the subject of the static issuer's uncached tokens.
	freshSA = "fresh"
)

// env is what the load runs against: the hub control plane and tokenfed,
// each its own process.
type env struct {
	hub      *controlplane.ControlPlane
	static   *staticissuer.Issuer
	tokenfed *tokenfedproc.Process
	// pid is tokenfed's process, for /proc.
	pid int
	// pod is the hub pod the upstream tokens are bound to.
	pod *corev1.Pod
	// tls trusts tokenfed and presents the development client certificate
	// (a caller with every issuer and the privileged endpoints).
	tls   *tls.Config
	stops []func()
}

func setup(ctx context.Context, dir string, o options) (*env, error) {
	e := &env{}
	for _, step := range []func(context.Context, string, options) error{e.startHub, e.startTokenfed} {
		if err := step(ctx, dir, o); err != nil {
			e.stop()
			return nil, err
		}
	}
	return e, nil
}

func (e *env) stop() {
	for i := len(e.stops) - 1; i >= 0; i-- {
		e.stops[i]()
	}
}

func (e *env) startHub(ctx context.Context, dir string, _ options) error {
	say("starting the hub control plane (etcd + kube-apiserver)")
	hub, err := controlplane.Start(ctx, controlplane.Options{Name: "soak-hub", Dir: mkdir(dir, "hub"), Progress: os.Stderr})
	if err != nil {
		return err
	}
	e.hub = hub
	e.stops = append(e.stops, hub.Stop)
	if err := hub.AllowAnonymousIssuerDiscovery(ctx); err != nil {
		return err
	}
	if _, err := hub.CreateNamespace(ctx, soakNS); err != nil {
		return err
	}
	if _, err := hub.CreateServiceAccount(ctx, soakNS, upstreamSA); err != nil {
		return err
	}
	e.pod, err = hub.CreatePod(ctx, soakNS, upstreamPod, upstreamSA)
	return err
}

// startTokenfed runs tokenfed with the hub (upstream policy always) and
// the static issuer, at -v=0 as in production: every review logged would
// make the log, not tokenfed, what the soak measures.
func (e *env) startTokenfed(ctx context.Context, dir string, o options) error {
	var err error
	if e.static, err = staticissuer.New("static"); err != nil {
		return err
	}
	hub := federation.HubIssuer("hub", e.hub)
	hub.Upstream = &v1alpha1.Upstream{Kubeconfig: e.hub.Kubeconfig, Policy: v1alpha1.UpstreamAlways}
	cfg := v1alpha1.Configuration{
		Issuers: []v1alpha1.Issuer{hub, e.static.Config()},
		Cache:   v1alpha1.Cache{MaxEntries: int32(o.cacheEntries)},
	}
	say("starting tokenfed: issuer hub (upstream policy always), issuer static (inline JWKS); cache.maxEntries %d", o.cacheEntries)
	verbosity := 0
	// --profiling serves /debug/pprof to the development client
	// certificate, a caller with every endpoint; only -heap-profiles asks.
	p, err := tokenfedproc.Start(ctx, tokenfedproc.Options{Dir: mkdir(dir, "tokenfed"), Config: cfg, Verbosity: &verbosity, Args: []string{"--profiling"}})
	if err != nil {
		return err
	}
	e.tokenfed = p
	e.stops = append(e.stops, p.Stop)
	e.tls = p.TLSConfig()
	e.pid, err = pidOf(p.ConfigFile)
	return err
}

func mkdir(dir, name string) string {
	p := filepath.Join(dir, name)
	_ = os.MkdirAll(p, 0o700)
	return p
}
