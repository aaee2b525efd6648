package callers

import (
	"context"
	"errors"

	"golang.org/x/time/rate"
	"k8s.io/apiserver/pkg/authentication/user"
)

// Outcomes of caller decisions, as metric labels and audit values.
const (
	OutcomeAllowed         = "allowed"
	OutcomeUnauthenticated = "unauthenticated"
	OutcomeForbidden       = "forbidden"
	OutcomeThrottled       = "throttled"
	OutcomeIssuerDenied    = "issuer_denied"
	OutcomeAudienceDenied  = "audience_denied"
)

var (
	// ErrIssuerNotGranted answers a review of a token of an issuer the
	// caller has no grant for. It is an authenticated: false answer, not a
	// 403: kube-apiserver's webhook client caches a 200 denial for its
	// failure TTL but never caches an error, so a 403 would bring the same
	// review back on every request, and log an error on the member each
	// time, for what is a routine answer ("not a token you may ask about").
	ErrIssuerNotGranted = errors.New("this caller may not review tokens of this issuer")
	// ErrAudienceNotGranted is the same for review audiences.
	ErrAudienceNotGranted = errors.New("this caller may not review tokens for these audiences")
	// ErrAudiencesRequired is the same for a review that names no
	// audiences, from a caller granted only some.
	ErrAudiencesRequired = errors.New("this caller must name the audiences it asks about (spec.audiences)")
)

// Admission is what an admitted caller may do.
type Admission struct {
	// Policy is the metrics label: a static policy name, "any" or
	// "delegated"; never a raw identity.
	Policy string
	// Limiter bounds the caller's reviews; nil means unlimited.
	Limiter *rate.Limiter
	// AllIssuers skips per-issuer checks (and the routing they need).
	AllIssuers bool
	grant      grant
	counts     *policyCounters
}

// grant answers the per-review questions for one admitted caller.
type grant interface {
	issuer(ctx context.Context, u user.Info, name string) (bool, error)
	audiences(auds []string) bool
}

// decider is what the middleware and guard need from a mode.
type decider interface {
	// admit returns the caller's admission, or ok=false when it has no grant
	// to review anything (403).
	admit(ctx context.Context, u user.Info) (adm *Admission, ok bool, err error)
	// endpoint reports whether u may read a privileged path.
	endpoint(ctx context.Context, u user.Info, path string) (bool, error)
}
