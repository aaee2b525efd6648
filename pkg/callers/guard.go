package callers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apiserver/pkg/authentication/authenticator"

	"github.com/tokenfed/tokenfed/pkg/authn/mapping"
)

// ErrAuthorizationUnavailable means the per-issuer decision could not be
// made (the delegated authorizer's cluster did not answer); the review
// handler answers 503, as for an unavailable upstream.
var ErrAuthorizationUnavailable = errors.New("caller authorization is unavailable")

// IssuerRouter names the issuer a review of a token would be answered by.
// *authn.Chain implements it.
type IssuerRouter interface {
	// Cached returns the authenticated answer cached for token and
	// audiences, whose user names its issuer (mapping.IssuerExtraKey), or
	// false when there is none. It is one cache lookup, counted as a hit.
	Cached(token string, audiences []string) (*authenticator.Response, bool)
	// IssuersOf names the issuers a token could be routed to, without any
	// cryptography or I/O: one, or every issuer sharing its iss while its
	// kid does not decide yet; nil when none would take it. It parses the
	// token's header and claims strictly, which costs more than the rest of
	// a cached review together.
	IssuersOf(token string) []string
}

// Check decides whether the admitted caller of ctx may ask about token for
// audiences. It runs before the review is authenticated, so a review the
// caller may not ask for costs no signature check and no upstream call. A
// token no issuer would take is let through: the chain refuses it just as
// cheaply, with the usual reason.
//
// A per-issuer grant is checked against the issuer of the answer the chain
// has cached, when it has one, and that answer is returned: the review is
// answered with it, so the grant is checked against exactly what the
// caller receives, and the token is looked up once. Only a miss (where a
// signature check follows anyway) pays for routing.
func (g *Gate) Check(ctx context.Context, token string, audiences []string) (*authenticator.Response, error) {
	c := callerFrom(ctx)
	if c == nil {
		return nil, nil
	}
	if !c.adm.grant.audiences(audiences) {
		err := ErrAudienceNotGranted
		if len(audiences) == 0 {
			err = ErrAudiencesRequired
		}
		return nil, g.deny(ctx, c, "", OutcomeAudienceDenied, err)
	}
	if c.adm.AllIssuers && !g.audit.enabled(ctx) {
		g.allow(ctx, c, "")
		return nil, nil
	}
	resp, issuers := g.answer(token, audiences)
	issuer := strings.Join(issuers, ",")
	if c.adm.AllIssuers || len(issuers) == 0 {
		g.allow(ctx, c, issuer)
		return resp, nil
	}
	// Every issuer the token could reach must be granted: when routing is
	// not settled yet (a kid the issuers sharing an iss must refetch), any
	// of them may end up verifying it.
	for _, name := range issuers {
		ok, err := c.adm.grant.issuer(ctx, c.user, name)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%w: %v", ErrAuthorizationUnavailable, err)
		case !ok:
			return nil, g.deny(ctx, c, issuer, OutcomeIssuerDenied, ErrIssuerNotGranted)
		}
	}
	g.allow(ctx, c, issuer)
	return resp, nil
}

// answer returns the cached answer for token with its issuer, or no answer
// and the issuers routing could pick (none when no issuer would take it).
func (g *Gate) answer(token string, audiences []string) (*authenticator.Response, []string) {
	if resp, ok := g.router.Cached(token, audiences); ok {
		if is := mapping.ExtraValue(resp.User, mapping.IssuerExtraKey); len(is) == 1 {
			return resp, is
		}
	}
	return nil, g.router.IssuersOf(token)
}

func (g *Gate) allow(ctx context.Context, c *caller, issuer string) {
	c.adm.counts.allowed.Inc()
	g.audit.decision(ctx, c.user, c.adm.Policy, issuer, OutcomeAllowed)
}

func (g *Gate) deny(ctx context.Context, c *caller, issuer, outcome string, err error) error {
	c.adm.counts.denied(outcome).Inc()
	g.audit.decision(ctx, c.user, c.adm.Policy, issuer, outcome)
	return err
}
