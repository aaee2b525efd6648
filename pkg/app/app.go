// Package app assembles a running tokenfed from a validated Configuration:
// the authentication chain, the review handlers, health, metrics and the
// HTTPS server. It is the one place that wires everything together, and
// the one that swaps in a reloaded configuration.
package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"k8s.io/apiserver/pkg/server/healthz"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn"
	"github.com/tokenfed/tokenfed/pkg/callers"
	"github.com/tokenfed/tokenfed/pkg/configreload"
	"github.com/tokenfed/tokenfed/pkg/server"
	"github.com/tokenfed/tokenfed/pkg/tokenreview"
)

// certReloadInterval is how often the serving certificate files are polled.
// cert-manager renews well before expiry, so seconds are plenty.
const certReloadInterval = 2 * time.Second

// Options are run-time switches that are not part of the configuration.
type Options struct {
	// Profiling serves /debug/pprof/ (to callers granted /debug/pprof).
	Profiling bool
	// Reload, when set, re-reads the configuration file while serving.
	Reload *ReloadOptions
}

// ReloadOptions configure hot reload of the configuration file.
type ReloadOptions struct {
	// Path, Initial, Load and Interval are configreload.Options'.
	Path     string
	Initial  []byte
	Load     func(data []byte) (*v1alpha1.Configuration, error)
	Interval time.Duration
	// Now, when it receives, reads the file at once (SIGHUP).
	Now <-chan struct{}
}

// App is a configured tokenfed.
type App struct {
	opts    Options
	reg     *prometheus.Registry
	metrics metrics
	server  *server.Server
	reload  *configreload.Watcher
	// listener is what the server was started with; a reload cannot
	// change it.
	listener server.Options

	// current is the configuration in force; every request reads it once,
	// so a request in flight finishes on the one it started with.
	current atomic.Pointer[generation]
	// applyMu serialises reloads; runCtx is what key sets run under.
	applyMu sync.Mutex
	runCtx  context.Context
}

// metrics are registered once per process and shared by every generation.
type metrics struct {
	chain   *authn.ChainMetrics
	callers *callers.Metrics
	reviews *tokenreview.Metrics
}

// generation is one configuration in force: its chain, its client CA,
// its caller gate and the handler serving them.
type generation struct {
	cfg      *v1alpha1.Configuration
	chain    *authn.Chain
	clientCA *clientCA
	handler  http.Handler
}

// New wires cfg. It fails on anything that would make serving pointless,
// such as an unreadable client CA.
func New(ctx context.Context, cfg *v1alpha1.Configuration, opts Options) (*App, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a := &App{opts: opts, reg: reg, metrics: metrics{
		chain: authn.NewChainMetrics(reg), callers: callers.NewMetrics(reg), reviews: tokenreview.NewMetrics(reg),
	}}
	ca, err := newClientCA(cfg.Server.ClientCAFile)
	if err != nil {
		return nil, err
	}
	if r := opts.Reload; r != nil {
		a.reload = configreload.New(configreload.Options{
			Path: r.Path, Interval: r.Interval, Initial: r.Initial, Load: r.Load, Apply: a.apply, Registerer: reg,
		})
	}
	chain, err := authn.New(ctx, cfg, a.metrics.chain)
	if err != nil {
		return nil, err
	}
	gen, err := a.generation(cfg, chain, ca)
	if err != nil {
		return nil, err
	}
	a.current.Store(gen)
	a.listener = serverOptions(&cfg.Server)
	a.server = server.New(a.listener, http.HandlerFunc(a.serveHTTP), server.NewMetrics(reg))
	return a, nil
}

func (a *App) serveHTTP(w http.ResponseWriter, r *http.Request) {
	a.current.Load().handler.ServeHTTP(w, r)
}

// generation builds the gate and the routes of cfg around chain and ca.
func (a *App) generation(cfg *v1alpha1.Configuration, chain *authn.Chain, ca *clientCA) (*generation, error) {
	gate, err := a.gate(cfg, chain, ca)
	if err != nil {
		return nil, err
	}
	return &generation{cfg: cfg, chain: chain, clientCA: ca, handler: server.NewMux(a.routes(cfg, chain, gate))}, nil
}

// gate builds caller authentication and authorization. Caller tokens are
// reviewed by the same chain, so a caller's own token is cached like any.
func (a *App) gate(cfg *v1alpha1.Configuration, chain *authn.Chain, ca *clientCA) (*callers.Gate, error) {
	cs := &cfg.Callers
	opts := callers.GateOptions{
		ClientCA: ca.verifyOptions, AllowAnonymous: cs.AllowAnonymous,
		Authorization: cs.Authorization, Router: chain, Metrics: a.metrics.callers,
	}
	if t := cs.Tokens; t != nil {
		tokens := chain.CallerTokens()
		opts.Tokens = &callers.TokenOptions{Reviewer: tokens, Router: tokens, Audiences: t.Audiences, Issuers: t.Issuers}
	}
	if d := cs.Authorization.Delegated; d != nil && cs.Authorization.Mode == v1alpha1.CallerAuthorizationDelegated {
		rc, err := kubeConfig(d.Kubeconfig, d.InCluster)
		if err != nil {
			return nil, fmt.Errorf("delegated authorization: %w", err)
		}
		opts.Delegated = rc
	}
	return callers.NewGate(opts)
}

func kubeConfig(path string, inCluster bool) (*rest.Config, error) {
	if inCluster {
		return rest.InClusterConfig()
	}
	return clientcmd.BuildConfigFromFlags("", path)
}

func serverOptions(s *v1alpha1.Server) server.Options {
	return server.Options{
		BindAddress: s.BindAddress, Port: s.SecurePort,
		CertFile: s.TLSCertFile, KeyFile: s.TLSPrivateKeyFile, CertReloadInterval: certReloadInterval,
		ReadTimeout: s.ReadTimeout.Duration, WriteTimeout: s.WriteTimeout.Duration,
		IdleTimeout: s.IdleTimeout.Duration, ShutdownGracePeriod: s.ShutdownGracePeriod.Duration,
		MaxConnections: int(s.MaxConnections), MaxConcurrentStreams: int(s.MaxConcurrentStreams),
		MaxRequestsInFlight: int(s.MaxRequestsInFlight),
	}
}

func (a *App) routes(cfg *v1alpha1.Configuration, chain *authn.Chain, gate *callers.Gate) server.Routes {
	certLoaded := healthz.NamedCheck("serving-certificate", func(*http.Request) error {
		if !a.server.CertificateLoaded() {
			return errors.New("not loaded")
		}
		return nil
	})
	ready := []healthz.HealthChecker{certLoaded}
	if a.reload != nil {
		ready = append(ready, a.reload.Check())
	}
	return server.Routes{
		Review: func(v string) http.Handler {
			return tokenreview.NewHandler(chain, gate, cfg.Server.MaxRequestBodyBytes, v, a.metrics.reviews)
		},
		Gate:      gate,
		Live:      []healthz.HealthChecker{healthz.PingHealthz},
		Ready:     append(ready, chain.ReadyChecks()...),
		Gatherer:  a.reg,
		Profiling: a.opts.Profiling,
	}
}

// Run serves until ctx is done.
func (a *App) Run(ctx context.Context) error {
	a.applyMu.Lock()
	a.runCtx = ctx
	a.current.Load().chain.Run(ctx)
	a.current.Load().clientCA.start(ctx)
	a.applyMu.Unlock()
	if a.reload != nil {
		go a.reload.Run(ctx, a.opts.Reload.Now)
	}
	return a.server.Run(ctx)
}
