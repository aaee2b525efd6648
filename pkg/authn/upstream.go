package authn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn/cache"
	"github.com/tokenfed/tokenfed/pkg/authn/jwt"
	"github.com/tokenfed/tokenfed/pkg/authn/keyset"
	"github.com/tokenfed/tokenfed/pkg/authn/upstream"
)

// ErrUnavailable marks reviews that could not be answered because the
// issuing cluster could not be asked; the HTTP edge answers them with 503.
var ErrUnavailable = upstream.ErrUnavailable

// LoopGuardAudience is added to the audiences of every review tokenfed
// sends upstream. A cluster that uses tokenfed as its own webhook passes
// the review's audiences on to it; seeing this one, tokenfed knows the
// review came back around and answers at once instead of asking again.
// kube-apiserver accepts a token if any audience matches, so the extra one
// changes nothing else.
const LoopGuardAudience = "tokenfed.io/loop-guard"

// errLoop answers a review that tokenfed itself forwarded.
var errLoop = errors.New("review was forwarded by tokenfed; not forwarding it again")

func isLoop(ctx context.Context) bool {
	auds, _ := authenticator.AudiencesFrom(ctx)
	return slices.Contains(auds, LoopGuardAudience)
}

func newUpstream(cfg *v1alpha1.Issuer, metrics *upstream.Metrics) (*upstream.Client, error) {
	rc, err := upstreamConfig(cfg.Upstream)
	if err != nil {
		return nil, fmt.Errorf("issuer %s upstream: %w", cfg.Name, err)
	}
	return upstream.New(upstream.Options{
		IssuerName: cfg.Name, Config: rc, Timeout: cfg.Upstream.Timeout.Duration,
		MaxConcurrent: int(cfg.Upstream.MaxConcurrent), Metrics: metrics,
	})
}

func upstreamConfig(u *v1alpha1.Upstream) (*rest.Config, error) {
	if u.InCluster {
		return rest.InClusterConfig()
	}
	return clientcmd.BuildConfigFromFlags("", u.Kubeconfig)
}

// needsConfirmation: the policy wants the cluster to confirm a token that
// verified locally.
func (is *issuer) needsConfirmation(res *jwt.Result) bool {
	switch is.policy {
	case v1alpha1.UpstreamAlways:
		return true
	case v1alpha1.UpstreamWhenBound:
		return res.BoundTo != jwt.BoundNone
	}
	return false
}

// canFallBack: the token could not be verified locally for a reason the
// cluster can settle: a legacy token, keys that are not loaded, or a key
// tokenfed does not hold (static keys may lag a rotation; a failed fetch
// says nothing). A token that is locally known to be bad (signature,
// expiry, audience) is not sent, and neither is one whose key the issuer's
// current document lacks (keyset.ErrUnpublishedKey): the issuer does not
// sign with that key, so the token is another cluster's that uses the same
// iss, and it goes to no cluster but its own. keyIDs overrule that: a kid
// the operator assigned to the issuer is the issuer's, published or not.
func (is *issuer) canFallBack(err error, kid string) bool {
	if is.upstream == nil || is.policy == v1alpha1.UpstreamNever {
		return false
	}
	switch {
	case errors.Is(err, keyset.ErrUnpublishedKey):
		return kid != "" && is.keyIDs[kid]
	case errors.Is(err, jwt.ErrLegacyNeedsUpstream), errors.Is(err, keyset.ErrUnknownKey), errors.Is(err, keyset.ErrNotReady):
		return true
	}
	return false
}

// errConfirmedAnother: the cluster vouched for the token, but as a user its
// claims do not name, so the cluster asked is not the token's.
var errConfirmedAnother = errors.New("the issuing cluster confirmed the token for another user")

// viaUpstream asks the issuer's cluster about a token it could not verify
// locally. expiry caps the cache TTL when local verification knew it.
func (is *issuer) viaUpstream(ctx context.Context, token string, expiry time.Time) cache.Result {
	return is.askUpstream(ctx, token, expiry, nil)
}

// confirm asks the cluster about a token verified locally, as the policy
// wants: the cluster says whether it still holds (a deleted pod or secret
// revokes it), but cannot widen what local verification found.
func (is *issuer) confirm(ctx context.Context, token string, local *jwt.Result) cache.Result {
	return is.askUpstream(ctx, token, local.Expiry, local.Response)
}

func (is *issuer) askUpstream(ctx context.Context, token string, expiry time.Time, local *authenticator.Response) cache.Result {
	resp, err := is.upstream.Review(ctx, token, is.upstreamAudiences(ctx))
	if errors.Is(err, upstream.ErrUnavailable) || errors.Is(err, upstream.ErrCredentialRefused) {
		// Neither says anything about the token. An outage is answered
		// 503; a refused credential is remembered by the upstream client
		// for a bounded time (upstream.CredentialHold), which is the only
		// memory it needs.
		return cache.Result{Err: err, NoCache: true}
	}
	if err == nil && local != nil {
		resp, err = is.confirmed(local, resp)
	}
	if err != nil {
		return cache.Result{Err: err}
	}
	return is.mapped(resp, expiry)
}

// confirmed holds the cluster's confirmation to the local result. Its
// audiences are those both found: the token's aud is known locally, and an
// upstream that answers for every audience asked (an older or
// misconfigured webhook chain) must not make the token valid for one it
// was never minted for. A ServiceAccount token's user is what its claims
// say, exactly as the cluster's own authenticator derives it
// (pkg/serviceaccount/claims.go), so another name means the cluster asked
// is not the token's.
func (is *issuer) confirmed(local, resp *authenticator.Response) (*authenticator.Response, error) {
	if is.typ == v1alpha1.IssuerTypeServiceAccount && resp.User.GetName() != local.User.GetName() {
		return nil, errConfirmedAnother
	}
	auds := authenticator.Audiences(resp.Audiences).Intersect(local.Audiences)
	if len(auds) == 0 {
		return nil, jwt.ErrAudience
	}
	out := *resp
	out.Audiences = auds
	return &out, nil
}

// answerAudiences applies kube-apiserver's rule for an authenticator's
// answer (pkg/registry/authentication/tokenreview/storage.go, and the
// webhook authenticator's own check in
// k8s.io/apiserver/plugin/pkg/authenticator/token/webhook): the answer must
// name at least one target audience, the review's or, when it names none,
// the issuer's. The answer is narrowed to those. An empty answer is
// refused, because a calling kube-apiserver reads empty status.audiences
// as "valid for my own API audiences". The loop guard never counts: it is
// tokenfed's marker, not an audience anyone asked for.
func (is *issuer) answerAudiences(ctx context.Context, resp *authenticator.Response) (*authenticator.Response, error) {
	target, _ := authenticator.AudiencesFrom(ctx)
	if len(target) == 0 {
		target = is.audiences
	}
	got := slices.DeleteFunc(slices.Clone(resp.Audiences), func(a string) bool { return a == LoopGuardAudience })
	auds := target.Intersect(got)
	if len(auds) == 0 {
		return nil, jwt.ErrAudience
	}
	out := *resp
	out.Audiences = auds
	return &out, nil
}

// upstreamAudiences are the review's audiences (or, when it names none,
// the issuer's, which is what the cluster would use) plus the loop guard.
func (is *issuer) upstreamAudiences(ctx context.Context) []string {
	auds, _ := authenticator.AudiencesFrom(ctx)
	if len(auds) == 0 {
		auds = is.audiences
	}
	return append(slices.Clone(auds), LoopGuardAudience)
}
