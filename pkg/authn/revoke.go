package authn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/klog/v2"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn/cache"
	"github.com/tokenfed/tokenfed/pkg/authn/jws"
	"github.com/tokenfed/tokenfed/pkg/authn/jwt"
	"github.com/tokenfed/tokenfed/pkg/authn/revocation"
	"github.com/tokenfed/tokenfed/pkg/redact"
)

// newRevocation builds the issuer's watcher from its revocation block,
// with the upstream's credentials (validation requires an upstream).
func newRevocation(cfg *v1alpha1.Issuer, m *revocation.Metrics) (*revocation.Watcher, error) {
	if cfg.Revocation == nil {
		return nil, nil
	}
	rc, err := upstreamConfig(cfg.Upstream)
	if err != nil {
		return nil, fmt.Errorf("issuer %s revocation: %w", cfg.Name, err)
	}
	return revocation.New(revocation.Options{
		IssuerName: cfg.Name, Config: rc, Secrets: cfg.Revocation.Secrets,
		MaxWatchOutage: cfg.Revocation.MaxWatchOutage.Duration, Metrics: m,
	})
}

// checkRevocation decides a locally verified token by the watch: valid
// tokens are answered and cached with a revalidator, so a deletion also
// withdraws the cached answer on its next hit; revoked ones are rejected
// (and cached, as the object cannot come back with its UID); for the rest
// the revocation block's notSynced decides: the cluster confirms, or the
// token is rejected uncached.
func (is *issuer) checkRevocation(ctx context.Context, token string, res *jwt.Result) cache.Result {
	tok := revocation.NewToken(res.Refs)
	v, err := is.revocation.Check(tok)
	is.revocation.Record(v)
	switch v {
	case revocation.Valid:
		r := is.mapped(res.Response, res.Expiry)
		if r.OK {
			r.Revalidate = &refsCheck{w: is.revocation, token: tok, local: true}
		}
		return r
	case revocation.Revoked:
		klog.FromContext(ctx).V(logLevelRejection).Info("token rejected", "issuer", is.name, "err", redact.Scrub(err.Error(), token))
		return cache.Result{Err: err}
	}
	klog.FromContext(ctx).V(logLevelRejection).Info("revocation state unknown", "issuer", is.name, "fallback", is.cfg.Revocation.NotSynced, "reason", redact.Scrub(err.Error(), token))
	if is.cfg.Revocation.NotSynced == v1alpha1.RevocationFallbackReject {
		return cache.Result{Err: fmt.Errorf("%w: %w", errRevocationUnknown, err), NoCache: true}
	}
	r := is.confirm(ctx, token, res)
	if r.OK {
		r.Revalidate = &refsCheck{w: is.revocation, token: tok}
	}
	return r
}

// viaUpstreamWatched asks the cluster about a token tokenfed could not
// verify itself (a legacy token, a key it does not hold), as without a
// watch; with one, the watch also checks the objects the token's claims
// name. They are read unverified (jwt.RefsOf): a legacy token's claims
// were verified, and any other token the cluster vouches for carries its
// own claims. So the check only rejects and withdraws: a token the watch
// finds revoked is rejected without asking, and the cluster's answer is
// re-checked on every cache hit, like one the cluster confirmed while the
// watch could not tell. A token without iat (a legacy one) may be as new
// as the question: it is checked as issued now.
func (is *issuer) viaUpstreamWatched(ctx context.Context, t *jws.Token) cache.Result {
	token := t.Raw
	if is.revocation == nil {
		return is.viaUpstream(ctx, token, time.Time{})
	}
	refs, ok := jwt.RefsOf(t)
	if !ok {
		return is.viaUpstream(ctx, token, time.Time{})
	}
	if refs.IssuedAt.IsZero() {
		refs.IssuedAt = time.Now()
	}
	tok := revocation.NewToken(refs)
	if v, err := is.revocation.Check(tok); v == revocation.Revoked {
		klog.FromContext(ctx).V(logLevelRejection).Info("token rejected", "issuer", is.name, "err", redact.Scrub(err.Error(), token))
		return cache.Result{Err: err}
	}
	r := is.viaUpstream(ctx, token, time.Time{})
	if r.OK {
		r.Revalidate = &refsCheck{w: is.revocation, token: tok}
	}
	return r
}

// errRevocationUnknown rejects a token under notSynced reject.
var errRevocationUnknown = errors.New("cannot tell whether the token was revoked")

// refsCheck re-checks a cached answer's refs on every hit: a few map
// lookups, so a deletion takes effect within the watch's delay rather than
// the success TTL. An answer the watch vouched for (local) is served only
// while it still does; one the cluster confirmed while the watch could not
// tell is served for its TTL unless the watch finds it revoked.
type refsCheck struct {
	w     *revocation.Watcher
	token *revocation.Token
	local bool
}

func (c *refsCheck) StillValid(now time.Time) bool {
	v, _ := c.w.CheckAt(c.token, now)
	return v == revocation.Valid || (v == revocation.Unknown && !c.local)
}
