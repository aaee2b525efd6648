package authn

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/klog/v2"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn/cache"
	"github.com/tokenfed/tokenfed/pkg/authn/jws"
	"github.com/tokenfed/tokenfed/pkg/authn/jwt"
	"github.com/tokenfed/tokenfed/pkg/authn/keyset"
	"github.com/tokenfed/tokenfed/pkg/authn/mapping"
	"github.com/tokenfed/tokenfed/pkg/authn/revocation"
	"github.com/tokenfed/tokenfed/pkg/authn/route"
	"github.com/tokenfed/tokenfed/pkg/authn/upstream"
	"github.com/tokenfed/tokenfed/pkg/redact"
)

// logLevelRejection logs why a token or an answer was refused; never the
// token itself.
const logLevelRejection = 3

// verifier is what an issuer needs from package jwt.
type verifier interface {
	VerifyToken(ctx context.Context, t *jws.Token) (*jwt.Result, error)
}

// issuer is one configured issuer: its keys, verifier and mapping.
type issuer struct {
	name string
	urls []string
	keys *keyset.KeySet
	// static keys are the operator's, like keyIDs: their kids are assigned.
	static   bool
	keyIDs   map[string]bool
	verifier verifier
	mapper   *mapping.Mapper
	// audiences are the configured ones, sent upstream when a review names none.
	audiences []string
	upstream  *upstream.Client
	policy    v1alpha1.UpstreamPolicy
	typ       v1alpha1.IssuerType
	// revocation watches the issuing cluster's objects; nil without a
	// revocation block.
	revocation *revocation.Watcher

	// cfg and denied are what the issuer was built from: a reload carries
	// the issuer over only when both are unchanged.
	cfg    *v1alpha1.Issuer
	denied []string
	// gates says the issuer was in the configuration tokenfed started with,
	// so its keys may gate readiness (v1alpha1.Readiness).
	gates bool
	lifecycle
}

// lifecycle runs an issuer's key set and revocation watch once, from the
// first chain that holds it until the last one that does is retired.
type lifecycle struct {
	startOnce sync.Once
	mu        sync.Mutex
	cancel    context.CancelFunc
	stopped   bool
}

func (is *issuer) start(ctx context.Context) {
	is.startOnce.Do(func() {
		is.mu.Lock()
		defer is.mu.Unlock()
		if is.stopped {
			return
		}
		ctx, is.cancel = context.WithCancel(ctx)
		go is.keys.Run(ctx)
		if is.revocation != nil {
			go is.revocation.Run(ctx)
		}
	})
}

func (is *issuer) stop() {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.stopped = true
	if is.cancel != nil {
		is.cancel()
	}
	if is.upstream != nil {
		is.upstream.Close()
	}
}

// reuseOrNewIssuer returns c's issuer of the same name when cfg and the
// global denied groups are unchanged, and a new issuer otherwise. A nil c
// (the first chain) builds every issuer new, and those gate readiness.
func (c *Chain) reuseOrNewIssuer(ctx context.Context, cfg *v1alpha1.Issuer, globalDenied []string, m *ChainMetrics) (*issuer, error) {
	if c != nil {
		if old := c.issuers[cfg.Name]; old != nil && reflect.DeepEqual(old.cfg, cfg) && slices.Equal(old.denied, globalDenied) {
			return old, nil
		}
	}
	is, err := newIssuer(ctx, cfg, globalDenied, m)
	if err != nil {
		return nil, err
	}
	is.gates = c == nil
	return is, nil
}

func newIssuer(ctx context.Context, cfg *v1alpha1.Issuer, globalDenied []string, m *ChainMetrics) (*issuer, error) {
	keys, err := newKeySet(cfg, m.keys)
	if err != nil {
		return nil, fmt.Errorf("issuer %s: %w", cfg.Name, err)
	}
	is := &issuer{
		name: cfg.Name, urls: issuerURLs(cfg), keys: keys, static: cfg.StaticKeys != nil, keyIDs: map[string]bool{},
		mapper:    mapping.New(cfg.Name, mapping.Kind(cfg.Type), *cfg.Mapping.Prefix, append(cfg.Mapping.DeniedGroups, globalDenied...), cfg.Mapping.DeniedUsernames),
		audiences: cfg.Audiences, policy: v1alpha1.UpstreamNever, typ: cfg.Type,
		cfg: cfg, denied: slices.Clone(globalDenied),
	}
	if cfg.Upstream != nil {
		is.policy = cfg.Upstream.Policy
		if is.upstream, err = newUpstream(cfg, m.upstream); err != nil {
			return nil, err
		}
	}
	if is.revocation, err = newRevocation(cfg, m.revocation); err != nil {
		return nil, err
	}
	for _, kid := range cfg.KeyIDs {
		is.keyIDs[kid] = true
	}
	if is.verifier, err = newVerifier(ctx, cfg, is.urls, keys); err != nil {
		return nil, fmt.Errorf("issuer %s: %w", cfg.Name, err)
	}
	return is, nil
}

// issuerURLs: a ServiceAccount issuer also claims legacy tokens, whose iss
// every cluster shares and which are routed by kid. Without an upstream it
// refuses them (jwt.ErrLegacyNeedsUpstream), but claiming them keeps its
// kids from routing its cluster's legacy tokens to another issuer whose
// document lists them.
func issuerURLs(cfg *v1alpha1.Issuer) []string {
	urls := []string{cfg.URL}
	if cfg.Type == v1alpha1.IssuerTypeServiceAccount && cfg.URL != jws.LegacyIssuer {
		urls = append(urls, jws.LegacyIssuer)
	}
	return urls
}

func newKeySet(cfg *v1alpha1.Issuer, metrics *keyset.Metrics) (*keyset.KeySet, error) {
	client, err := fetchClient(&cfg.Fetch)
	if err != nil {
		return nil, err
	}
	opts := keyset.Options{
		IssuerName: cfg.Name, Issuer: cfg.URL, Client: client, Algorithms: cfg.Algorithms, Metrics: metrics,
		Credentials:        cfg.Fetch.BearerTokenFile != "" || cfg.Fetch.ClientCertFile != "",
		UnknownKidCooldown: cfg.Fetch.UnknownKidCooldown.Duration,
		MinRefresh:         cfg.Fetch.MinRefresh.Duration, MaxRefresh: cfg.Fetch.MaxRefresh.Duration,
		MaxStaleness: cfg.Fetch.MaxStaleness.Duration, FetchTimeout: cfg.Fetch.Timeout.Duration,
	}
	switch {
	case cfg.StaticKeys != nil && cfg.StaticKeys.File != "":
		opts.StaticFile = cfg.StaticKeys.File
	case cfg.StaticKeys != nil:
		opts.StaticJWKS = []byte(cfg.StaticKeys.JWKS)
	case cfg.JWKSURL != "":
		opts.JWKSURL = cfg.JWKSURL
	case cfg.DiscoveryURL != "":
		opts.DiscoveryURL = cfg.DiscoveryURL
	default:
		opts.DiscoveryURL = strings.TrimSuffix(cfg.URL, "/") + "/.well-known/openid-configuration"
	}
	return keyset.New(opts)
}

func newVerifier(ctx context.Context, cfg *v1alpha1.Issuer, urls []string, keys *keyset.KeySet) (verifier, error) {
	if cfg.Type == v1alpha1.IssuerTypeServiceAccount {
		return jwt.NewServiceAccountVerifier(jwt.ServiceAccountOptions{
			Issuers: urls, Audiences: cfg.Audiences, Keys: keys,
			Algorithms: cfg.Algorithms, AllowMissingExpiry: cfg.AllowMissingExpiry,
		})
	}
	jwtAuth, err := cfg.JWTAuthenticator()
	if err != nil {
		return nil, err
	}
	return jwt.NewOIDCVerifier(ctx, jwt.OIDCOptions{
		JWTAuthenticator: jwtAuth, KeySet: keys, SupportedSigningAlgs: cfg.Algorithms,
		ReviewAudiences: cfg.ReviewAudiences,
	})
}

// candidate is the routing view of the issuer.
func (is *issuer) candidate() route.Candidate {
	return route.Candidate{Name: is.name, IssuerURLs: is.urls, Keys: routeKeys{is}}
}

// routeKeys tells routing which kids are the issuer's.
type routeKeys struct{ is *issuer }

var _ route.Keys = routeKeys{}

// Claim: kids the operator gave the issuer (keyIDs, static keys) are
// assigned; kids of a document fetched from the issuer are only listed
// there, which another cluster's document can do too.
func (r routeKeys) Claim(kid string) route.Claim {
	switch {
	case r.is.keyIDs[kid], r.is.static && r.is.keys.HasKid(kid):
		return route.Assigned
	case r.is.keys.HasKid(kid):
		return route.Fetched
	}
	return route.NoClaim
}

// MayHold: an issuer whose keys are not loaded may own a kid it served
// before (however long ago) or was given in keyIDs; one that never loaded
// keys may own any kid. Kids it never showed are not blocked: otherwise one
// member down would refuse every other member's tokens on a shared iss.
func (r routeKeys) MayHold(kid string) bool {
	keys := r.is.keys
	if keys.Loaded() {
		return false
	}
	return !keys.EverLoaded() || keys.ServedKid(kid) || r.is.keyIDs[kid]
}

func (r routeKeys) Refetch(ctx context.Context) { r.is.keys.RefetchForRoute(ctx) }

// authenticate verifies locally and involves the cluster as the policy
// says. fallBack lets a token that cannot be verified locally go to the
// cluster; a verified one is confirmed there as the policy says either way.
func (is *issuer) authenticate(ctx context.Context, t *jws.Token, fallBack bool) cache.Result {
	token := t.Raw
	res, err := is.verifier.VerifyToken(ctx, t)
	switch {
	case err == nil && is.needsConfirmation(res):
		return is.confirm(ctx, token, res)
	case err == nil && is.revocation != nil:
		return is.checkRevocation(ctx, token, res)
	case err == nil:
		return is.mapped(res.Response, res.Expiry)
	case fallBack && is.canFallBack(err, t.Header.Kid):
		return is.viaUpstreamWatched(ctx, t)
	default:
		klog.FromContext(ctx).V(logLevelRejection).Info("token rejected", "issuer", is.name, "err", redact.Scrub(err.Error(), token))
		return cache.Result{Err: err}
	}
}

func (is *issuer) mapped(resp *authenticator.Response, expiry time.Time) cache.Result {
	out, err := is.mapper.Map(resp)
	if err != nil {
		return cache.Result{Err: err}
	}
	return cache.Result{Response: out, OK: true, Expiry: expiry}
}
