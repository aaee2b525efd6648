// Package app assembles a running tokenfed from a validated Configuration:
// the authentication chain, the review handlers, health, metrics and the
// HTTPS server. It is the one place that wires everything together.
package app

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/apiserver/pkg/server/healthz"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn"
	"github.com/tokenfed/tokenfed/pkg/callers"
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
}

// App is a configured tokenfed.
type App struct {
	opts     Options
	chain    *authn.Chain
	server   *server.Server
	clientCA *dynamiccertificates.DynamicFileCAContent
}

// New wires cfg. It fails on anything that would make serving pointless,
// such as an unreadable client CA.
func New(ctx context.Context, cfg *v1alpha1.Configuration, opts Options) (*App, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	chain, err := authn.New(ctx, cfg, reg)
	if err != nil {
		return nil, err
	}
	a := &App{chain: chain, opts: opts}
	if cfg.Server.ClientCAFile != "" {
		if a.clientCA, err = dynamiccertificates.NewDynamicCAContentFromFile("client-ca", cfg.Server.ClientCAFile); err != nil {
			return nil, fmt.Errorf("client CA: %w", err)
		}
	}
	gate, err := a.gate(cfg, reg)
	if err != nil {
		return nil, err
	}
	srvOpts := serverOptions(&cfg.Server)
	a.server = server.New(srvOpts, server.NewMux(a.routes(cfg, reg, gate)))
	return a, nil
}

// gate builds caller authentication and authorization. Caller tokens are
// reviewed by the same chain, so a caller's own token is cached like any.
func (a *App) gate(cfg *v1alpha1.Configuration, reg prometheus.Registerer) (*callers.Gate, error) {
	cs := &cfg.Callers
	opts := callers.GateOptions{
		ClientCA: a.clientCAOptions, AllowAnonymous: cs.AllowAnonymous,
		Authorization: cs.Authorization, Router: a.chain, Metrics: callers.NewMetrics(reg),
	}
	if t := cs.Tokens; t != nil {
		tokens := a.chain.CallerTokens()
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
	}
}

func (a *App) routes(cfg *v1alpha1.Configuration, reg *prometheus.Registry, gate *callers.Gate) server.Routes {
	metrics := tokenreview.NewMetrics(reg)
	certLoaded := healthz.NamedCheck("serving-certificate", func(*http.Request) error {
		if !a.server.CertificateLoaded() {
			return errors.New("not loaded")
		}
		return nil
	})
	return server.Routes{
		Review: func(v string) http.Handler {
			return tokenreview.NewHandler(a.chain, gate, cfg.Server.MaxRequestBodyBytes, v, metrics)
		},
		Gate:      gate,
		Live:      []healthz.HealthChecker{healthz.PingHealthz},
		Ready:     append([]healthz.HealthChecker{certLoaded}, a.chain.ReadyChecks()...),
		Gatherer:  reg,
		Profiling: a.opts.Profiling,
	}
}

func (a *App) clientCAOptions() (opts x509.VerifyOptions, ok bool) {
	if a.clientCA == nil {
		return opts, false
	}
	return a.clientCA.VerifyOptions()
}

var _ callers.VerifyOptionsFunc = (&App{}).clientCAOptions

// Run serves until ctx is done.
func (a *App) Run(ctx context.Context) error {
	if a.clientCA != nil {
		go a.clientCA.Run(ctx, 1)
	}
	go a.chain.Run(ctx)
	return a.server.Run(ctx)
}
