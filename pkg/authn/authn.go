package authn

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/server/healthz"
	"k8s.io/klog/v2"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn/cache"
	"github.com/tokenfed/tokenfed/pkg/authn/keyset"
	"github.com/tokenfed/tokenfed/pkg/authn/route"
)

// ErrUntrustedIssuer is the answer for a token no configured issuer claims.
var ErrUntrustedIssuer = route.ErrUnknownIssuer

// Chain is the configured authentication chain.
type Chain struct {
	cache   *cache.Cache
	router  *route.Router
	issuers map[string]*issuer
	metrics *Metrics
}

var _ authenticator.Token = &Chain{}

// New builds the chain for a validated cfg.
func New(ctx context.Context, cfg *v1alpha1.Configuration, reg prometheus.Registerer) (*Chain, error) {
	c := &Chain{issuers: map[string]*issuer{}, metrics: NewMetrics(reg)}
	keyMetrics := keyset.NewMetrics()
	reg.MustRegister(keyMetrics)
	var candidates []route.Candidate
	for i := range cfg.Issuers {
		is, err := newIssuer(ctx, &cfg.Issuers[i], cfg.DeniedGroups, keyMetrics)
		if err != nil {
			return nil, err
		}
		c.issuers[is.name] = is
		candidates = append(candidates, is.candidate())
	}
	router, err := route.NewRouter(candidates)
	if err != nil {
		return nil, fmt.Errorf("routing: %w", err)
	}
	c.router = router
	c.cache = cache.New(c.authenticate, cache.Options{
		SuccessTTL: cfg.Cache.SuccessTTL.Duration, FailureTTL: cfg.Cache.FailureTTL.Duration,
		MaxEntries: int(cfg.Cache.MaxEntries), Metrics: cache.NewMetrics(reg),
	})
	return c, nil
}

// AuthenticateToken implements authenticator.Token.
func (c *Chain) AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	return c.cache.AuthenticateToken(ctx, token)
}

// authenticate runs on a cache miss: route, verify, map.
func (c *Chain) authenticate(ctx context.Context, token string) cache.Result {
	is, err := c.route(token)
	if err != nil {
		// Rejected without cryptography: caching it would only let garbage
		// evict real entries.
		c.metrics.outcome("", "rejected")
		return cache.Result{Err: err, NoCache: true}
	}
	res, err := is.verifier.Verify(ctx, token)
	if err != nil {
		klog.FromContext(ctx).V(3).Info("token rejected", "issuer", is.name, "err", err)
		c.metrics.outcome(is.name, "invalid")
		return cache.Result{Err: err}
	}
	mapped, err := is.mapper.Map(res.Response)
	if err != nil {
		c.metrics.outcome(is.name, "denied")
		return cache.Result{Err: err}
	}
	c.metrics.outcome(is.name, "authenticated")
	return cache.Result{Response: mapped, OK: true, Expiry: res.Expiry}
}

func (c *Chain) route(token string) (*issuer, error) {
	h, err := route.Peek(token)
	if errors.Is(err, route.ErrNotJWT) {
		return nil, errors.New("token is not a JWT and no upstream is configured for opaque tokens")
	}
	if err != nil {
		return nil, err
	}
	name, err := c.router.Route(h)
	if err != nil {
		return nil, err
	}
	return c.issuers[name], nil
}

// ReadyChecks report, per issuer, whether its keys are loaded.
func (c *Chain) ReadyChecks() []healthz.HealthChecker {
	var checks []healthz.HealthChecker
	for _, is := range c.issuers {
		checks = append(checks, keysReady{is})
	}
	return checks
}

// Run keeps every key set fresh until ctx is done.
func (c *Chain) Run(ctx context.Context) {
	for _, is := range c.issuers {
		go is.keys.Run(ctx)
	}
}
