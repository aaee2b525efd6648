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

// IssuerRouter names the issuer a review of a token would be answered by.
// *authn.Chain implements it.
type IssuerRouter interface {
	// AnsweredBy names the issuer whose authenticated answer for token and
	// audiences is cached, or "" when none is. It is one cache lookup.
	AnsweredBy(token string, audiences []string) string
	// IssuerOf names the issuer a token would be routed to, without any
	// cryptography or I/O, or "" when none would take it. It parses the
	// token's header and claims strictly, which costs more than the rest of
	// a cached review together.
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
		issuer = g.issuerOf(token, audiences)
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

// issuerOf is the issuer whose answer a review would get: the one whose
// answer is cached, else the one routing picks. A cached answer is checked
// by the issuer that gave it, which is what the caller would receive; only
// a miss (where a signature check follows anyway) pays for routing. Should
// the entry expire between this lookup and the review's own, the chain
// routes the token itself, to the same issuer unless two issuers share the
// token's iss and kid.
func (g *Gate) issuerOf(token string, audiences []string) string {
	if issuer := g.router.AnsweredBy(token, audiences); issuer != "" {
		return issuer
	}
	return g.router.IssuerOf(token)
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
