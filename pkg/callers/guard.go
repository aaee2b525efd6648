package callers

import (
	"context"
	"errors"
	"fmt"
)

// ErrAuthorizationUnavailable means the per-issuer decision could not be
// made (the delegated authorizer's cluster did not answer); the review
// handler answers 503, as for an unavailable upstream.
var ErrAuthorizationUnavailable = errors.New("caller authorization is unavailable")

// IssuerRouter names the issuer a token would be routed to, without any
// cryptography or I/O, or "" when none would take it. *authn.Chain
// implements it.
type IssuerRouter interface {
	IssuerOf(token string) string
}

// Check decides whether the admitted caller of ctx may ask about token for
// audiences. It runs before the review is authenticated, so a review the
// caller may not ask for costs no signature check and no upstream call. A
// token no issuer would take is let through: the chain refuses it just as
// cheaply, with the usual reason.
func (g *Gate) Check(ctx context.Context, token string, audiences []string) error {
	c := callerFrom(ctx)
	if c == nil {
		return nil
	}
	if !c.adm.grant.audiences(audiences) {
		return g.deny(ctx, c, "", OutcomeAudienceDenied, ErrAudienceNotGranted)
	}
	issuer := ""
	if !c.adm.AllIssuers || g.audit.enabled(ctx) {
		issuer = g.router.IssuerOf(token)
	}
	if c.adm.AllIssuers || issuer == "" {
		g.allow(ctx, c, issuer)
		return nil
	}
	ok, err := c.adm.grant.issuer(ctx, c.user, issuer)
	switch {
	case err != nil:
		return fmt.Errorf("%w: %v", ErrAuthorizationUnavailable, err)
	case !ok:
		return g.deny(ctx, c, issuer, OutcomeIssuerDenied, ErrIssuerNotGranted)
	}
	g.allow(ctx, c, issuer)
	return nil
}

func (g *Gate) allow(ctx context.Context, c *caller, issuer string) {
	g.metrics.decision(c.adm.Policy, OutcomeAllowed)
	g.audit.decision(ctx, c.user, c.adm.Policy, issuer, OutcomeAllowed)
}

func (g *Gate) deny(ctx context.Context, c *caller, issuer, outcome string, err error) error {
	g.metrics.decision(c.adm.Policy, outcome)
	g.audit.decision(ctx, c.user, c.adm.Policy, issuer, outcome)
	return err
}
