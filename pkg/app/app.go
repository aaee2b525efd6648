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
	// Profiling serves /debug/pprof/ (to callers with a client certificate).
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
	srvOpts := serverOptions(&cfg.Server)
	srvOpts.VerifyConnection = callers.VerifyConnection(a.clientCAOptions)
	a.server = server.New(srvOpts, server.NewMux(a.routes(cfg, reg)))
	return a, nil
}

func serverOptions(s *v1alpha1.Server) server.Options {
	return server.Options{
		BindAddress: s.BindAddress, Port: s.SecurePort,
		CertFile: s.TLSCertFile, KeyFile: s.TLSPrivateKeyFile, CertReloadInterval: certReloadInterval,
		ReadTimeout: s.ReadTimeout.Duration, WriteTimeout: s.WriteTimeout.Duration,
		IdleTimeout: s.IdleTimeout.Duration, ShutdownGracePeriod: s.ShutdownGracePeriod.Duration,
	}
}

func (a *App) routes(cfg *v1alpha1.Configuration, reg *prometheus.Registry) server.Routes {
	metrics := tokenreview.NewMetrics(reg)
	certLoaded := healthz.NamedCheck("serving-certificate", func(*http.Request) error {
		if !a.server.CertificateLoaded() {
			return errors.New("not loaded")
		}
		return nil
	})
	return server.Routes{
		Review: func(v string) http.Handler {
			return tokenreview.NewHandler(a.chain, cfg.Server.MaxRequestBodyBytes, v, metrics)
		},
		ClientCA:  a.clientCAOptions,
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
