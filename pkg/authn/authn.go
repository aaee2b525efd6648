package authn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/klog/v2"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn/cache"
	"github.com/tokenfed/tokenfed/pkg/authn/jws"
	"github.com/tokenfed/tokenfed/pkg/authn/keyset"
	"github.com/tokenfed/tokenfed/pkg/authn/mapping"
	"github.com/tokenfed/tokenfed/pkg/authn/revocation"
	"github.com/tokenfed/tokenfed/pkg/authn/route"
	"github.com/tokenfed/tokenfed/pkg/authn/upstream"
	"github.com/tokenfed/tokenfed/pkg/redact"
)

// ErrUntrustedIssuer is the answer for a token no configured issuer claims.
var ErrUntrustedIssuer = route.ErrUnknownIssuer

var errOpaque = errors.New("token is not a JWT and no upstream is configured for opaque tokens")

var errOpaqueCaller = errors.New("a caller token must be a JWT tokenfed can verify itself")

// Chain is the configured authentication chain.
type Chain struct {
	cache *cache.Cache
	// callerCache holds callers' own tokens, reviewed locally only (see
	// CallerTokens), apart from the reviews callers ask for.
	callerCache *cache.Cache
	router      *route.Router
	issuers     map[string]*issuer
	// namespaces checks every answer's identity against every issuer's.
	namespaces *mapping.Namespaces
	// interner shares identities among the cached answers of one identity's
	// many tokens.
	interner *mapping.Interner
	// opaque receives tokens that are not JWTs; nil rejects them.
	opaque  *issuer
	metrics *Metrics
	// chainMetrics are handed on to the chain's successors.
	chainMetrics *ChainMetrics
	// readiness says which issuers' keys gate ReadyChecks.
	readiness v1alpha1.IssuerReadiness
	// added are the issuers a successor built anew rather than carried over.
	added []*issuer
}

var _ authenticator.Token = &Chain{}

// ChainMetrics are the metrics of every chain one process builds: a hot
// reload builds a new chain but registers nothing twice.
type ChainMetrics struct {
	chain    *Metrics
	keys     *keyset.Metrics
	upstream *upstream.Metrics
	// reviews and callers are the two caches' metrics, labelled cache=.
	reviews, callers *cache.Metrics
	revocation       *revocation.Metrics
}

// NewChainMetrics registers the chain's metrics with reg.
func NewChainMetrics(reg prometheus.Registerer) *ChainMetrics {
	m := &ChainMetrics{
		chain: NewMetrics(reg), keys: keyset.NewMetrics(), upstream: upstream.NewMetrics(reg),
		reviews:    cache.NewMetrics(cacheRegisterer(reg, "reviews")),
		callers:    cache.NewMetrics(cacheRegisterer(reg, "callers")),
		revocation: revocation.NewMetrics(reg),
	}
	reg.MustRegister(m.keys)
	return m
}

// New builds the chain for a validated cfg. Start its key sets with Run.
func New(ctx context.Context, cfg *v1alpha1.Configuration, m *ChainMetrics) (*Chain, error) {
	return build(ctx, cfg, m, nil)
}

// Successor builds the chain for a reloaded, validated cfg. Issuers whose
// configuration is unchanged are carried over with their key sets, their
// upstream clients and breakers, so they serve on without a fetch. The
// caches start empty: an answer cached under the old configuration may no
// longer be the one the new configuration gives. Run the successor, then
// Retire c.
func (c *Chain) Successor(ctx context.Context, cfg *v1alpha1.Configuration) (*Chain, error) {
	return build(ctx, cfg, c.chainMetrics, c)
}

func build(ctx context.Context, cfg *v1alpha1.Configuration, m *ChainMetrics, prev *Chain) (*Chain, error) {
	c := &Chain{issuers: map[string]*issuer{}, metrics: m.chain, chainMetrics: m, readiness: cfg.Readiness.Issuers}
	var candidates []route.Candidate
	prefixes := map[string]string{}
	for i := range cfg.Issuers {
		is, err := prev.reuseOrNewIssuer(ctx, &cfg.Issuers[i], cfg.DeniedGroups, m)
		if err != nil {
			return nil, err
		}
		c.issuers[is.name] = is
		if prev != nil && prev.issuers[is.name] != is {
			c.added = append(c.added, is)
		}
		candidates = append(candidates, is.candidate())
		prefixes[is.name] = *cfg.Issuers[i].Mapping.Prefix
	}
	c.namespaces = mapping.NewNamespaces(prefixes)
	router, err := route.NewRouter(candidates)
	if err != nil {
		return nil, fmt.Errorf("routing: %w", err)
	}
	c.router, c.opaque = router, c.issuers[cfg.OpaqueTokenUpstream]
	opts := cache.Options{SuccessTTL: cfg.Cache.SuccessTTL.Duration, FailureTTL: cfg.Cache.FailureTTL.Duration}
	opts.MaxEntries, opts.Metrics = int(cfg.Cache.MaxEntries), m.reviews
	c.interner = mapping.NewInterner(int(cfg.Cache.MaxEntries))
	c.cache = cache.New(c.authenticate, opts)
	opts.MaxEntries, opts.Metrics = callerCacheEntries(cfg.Cache.MaxEntries), m.callers
	c.callerCache = cache.New(c.authenticateCaller, opts)
	return c, nil
}

// cacheRegisterer labels a cache's metrics with which cache it is.
func cacheRegisterer(reg prometheus.Registerer, name string) prometheus.Registerer {
	return prometheus.WrapRegistererWith(prometheus.Labels{"cache": name}, reg)
}

// callerCacheEntries bounds the caller-token cache: one entry per caller
// token in use, far fewer than the tokens callers ask about.
func callerCacheEntries(maxEntries int32) int {
	return int(max(1024, maxEntries/16))
}

// AuthenticateToken implements authenticator.Token. The token is
// canonicalised first, so routing, verification and the cache key all see
// one spelling of it: surrounding whitespace is trimmed, and an ECDSA
// signature, which anyone can re-spell, is put in its low-S form.
func (c *Chain) AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	token, err := canonical(token)
	if err != nil {
		c.metrics.outcome("", "rejected")
		return nil, false, err
	}
	return c.cache.AuthenticateToken(ctx, token)
}

// canonical is the one spelling of token that the cache key, routing and
// verification see.
func canonical(token string) (string, error) {
	token, err := route.Canonical(token)
	if err != nil {
		return "", err
	}
	return jws.CanonicalSignature(token), nil
}

// authenticate runs on a cache miss: route, then the one issuer decides.
func (c *Chain) authenticate(ctx context.Context, token string) cache.Result {
	return c.review(ctx, token, true)
}

// authenticateCaller runs on a caller-token cache miss: as authenticate,
// but a token that does not verify locally goes to no upstream, and an
// opaque token is refused.
func (c *Chain) authenticateCaller(ctx context.Context, token string) cache.Result {
	return c.review(ctx, token, false)
}

// review routes token, then its one issuer decides. fallBack lets a token
// that cannot be verified locally go to the issuer's upstream, and an
// opaque token to the opaque upstream.
func (c *Chain) review(ctx context.Context, token string, fallBack bool) cache.Result {
	if isLoop(ctx) {
		c.metrics.outcome("", "loop")
		return cache.Result{Err: errLoop, NoCache: true}
	}
	tok, is, err := c.route(ctx, token)
	if err != nil {
		// Rejected without cryptography: caching it would only let garbage
		// evict real entries.
		c.metrics.outcome("", "rejected")
		return cache.Result{Err: err, NoCache: true}
	}
	opaque := tok == nil
	if opaque && !fallBack {
		c.metrics.outcome("", "rejected")
		return cache.Result{Err: errOpaqueCaller, NoCache: true}
	}
	start := time.Now()
	var r cache.Result
	if opaque {
		// Nothing to verify locally: the named upstream is the authority.
		r = is.viaUpstream(ctx, token, time.Time{})
	} else {
		r = is.authenticate(ctx, tok, fallBack)
	}
	r = c.checkAnswer(ctx, is, r, token)
	c.metrics.verified(is.name, time.Since(start))
	c.metrics.outcome(is.name, outcomeOf(r))
	return r
}

// checkAnswer holds the contract on every path (local, upstream, opaque),
// before anything is cached: the audiences and the identity namespaces.
func (c *Chain) checkAnswer(ctx context.Context, is *issuer, r cache.Result, token string) cache.Result {
	if !r.OK {
		return r
	}
	resp, err := is.answerAudiences(ctx, r.Response)
	if err == nil {
		err = c.namespaces.Check(is.name, resp)
	}
	if err != nil {
		klog.FromContext(ctx).V(logLevelRejection).Info("answer refused", "issuer", is.name, "err", redact.Scrub(err.Error(), token))
		return cache.Result{Err: err}
	}
	r.Response = c.interner.Response(resp)
	return r
}

// IssuersOf names the issuers a review of token could go to: the opaque
// upstream's issuer for an opaque token, the routed issuer for a JWT, or,
// while its kid does not decide yet, every issuer sharing its iss. Nil
// means none would take it. It does no cryptography and no I/O: callers'
// grants are checked with it before anything is fetched or verified on
// their behalf.
func (c *Chain) IssuersOf(token string) []string {
	token, err := canonical(token)
	if err != nil {
		return nil
	}
	t, err := jws.Parse(token)
	switch {
	case errors.Is(err, jws.ErrNotJWT):
		if c.opaque == nil || route.CheckOpaque(token) != nil {
			return nil
		}
		return []string{c.opaque.name}
	case err != nil:
		return nil
	}
	return c.router.Candidates(t.Header)
}

// Cached returns the authenticated answer the cache holds for token and
// audiences, which is what AuthenticateToken would return for them, or
// false when it holds none (a miss, or a cached failure). Its user names
// the issuer that gave it (mapping.IssuerExtraKey). It costs one cache
// lookup, a fraction of IssuersOf's strict parsing: callers' grants are
// checked with the answer itself, which is then the review's answer.
func (c *Chain) Cached(token string, audiences []string) (*authenticator.Response, bool) {
	token, err := canonical(token)
	if err != nil {
		return nil, false
	}
	return c.cache.LookupAuthenticated(audiences, token)
}

// route parses token, the one parse that routing, verification and claims
// decoding share, and picks the one issuer that may see it, or none. A nil
// parse with an issuer says the token is not a JWT and goes to the
// configured opaque upstream.
func (c *Chain) route(ctx context.Context, token string) (*jws.Token, *issuer, error) {
	t, err := jws.Parse(token)
	if errors.Is(err, jws.ErrNotJWT) {
		if err := route.CheckOpaque(token); err != nil {
			return nil, nil, err
		}
		if c.opaque == nil {
			return nil, nil, errOpaque
		}
		return nil, c.opaque, nil
	}
	if err != nil {
		return nil, nil, err
	}
	name, err := c.router.Route(ctx, t.Header)
	if err != nil {
		return nil, nil, err
	}
	return t, c.issuers[name], nil
}

func outcomeOf(r cache.Result) string {
	switch {
	case r.OK:
		return "authenticated"
	case errors.Is(r.Err, ErrUnavailable):
		return "unavailable"
	default:
		return "rejected"
	}
}

// Run starts the key sets of the chain's issuers that are not running yet
// (an issuer carried over from a predecessor already is); each keeps its
// keys fresh until ctx is done or the chain that last holds it is retired.
func (c *Chain) Run(ctx context.Context) {
	for _, is := range c.issuers {
		is.start(ctx)
	}
}

// AwaitAddedKeys waits until every issuer a successor added or changed has
// tried to load its keys once, and synced its revocation watch if it has
// one, or ctx is done. Run the chain first. Swapping to the chain after it
// means a changed issuer's tokens do not meet an empty key set, nor go to
// the revocation fallback; an issuer whose first fetch fails is not waited
// for longer.
func (c *Chain) AwaitAddedKeys(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	pending := func(is *issuer) bool {
		return !is.keys.Attempted() || (is.revocation != nil && !is.revocation.Synced())
	}
	for {
		if !slices.ContainsFunc(c.added, pending) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Retire stops the key sets of c's issuers that next did not carry over.
// Reviews still running on c keep the keys they have.
func (c *Chain) Retire(next *Chain) {
	for name, is := range c.issuers {
		if next == nil || next.issuers[name] != is {
			is.stop()
		}
	}
}
