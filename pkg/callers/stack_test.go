package callers_test

import (
	"context"
	"crypto/x509"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn"
	"github.com/tokenfed/tokenfed/pkg/callers"
	"github.com/tokenfed/tokenfed/pkg/tokenreview"
)

// reviewStack is tokenfed's review stack as pkg/app wires it, in process:
// the real chain, the real gate (caller tokens as cfg.Callers.Tokens
// says), and the real review handler of /authenticate behind the gate.
// The chain's background loops are not started.
type reviewStack struct {
	chain   *authn.Chain
	gate    *callers.Gate
	reviews http.Handler
}

// newReviewStack defaults and validates cfg, then wires it. clientCA nil
// takes no client certificates.
func newReviewStack(t testing.TB, cfg *v1alpha1.Configuration, clientCA *x509.CertPool) *reviewStack {
	t.Helper()
	v1alpha1.SetDefaults(cfg)
	if errs := v1alpha1.Validate(cfg); len(errs) > 0 {
		t.Fatalf("invalid test config: %v", errs.ToAggregate())
	}
	reg := prometheus.NewRegistry()
	chain, err := authn.New(context.Background(), cfg, authn.NewChainMetrics(reg))
	if err != nil {
		t.Fatal(err)
	}
	opts := callers.GateOptions{
		ClientCA:      func() (x509.VerifyOptions, bool) { return x509.VerifyOptions{Roots: clientCA}, clientCA != nil },
		Authorization: cfg.Callers.Authorization, Router: chain, Metrics: callers.NewMetrics(reg),
	}
	if ct := cfg.Callers.Tokens; ct != nil {
		tokens := chain.CallerTokens()
		opts.Tokens = &callers.TokenOptions{Reviewer: tokens, Router: tokens, Audiences: ct.Audiences, Issuers: ct.Issuers}
	}
	gate, err := callers.NewGate(opts)
	if err != nil {
		t.Fatal(err)
	}
	h := tokenreview.NewHandler(chain, gate, cfg.Server.MaxRequestBodyBytes, "", tokenreview.NewMetrics(reg))
	return &reviewStack{chain: chain, gate: gate, reviews: gate.Reviews(h)}
}
