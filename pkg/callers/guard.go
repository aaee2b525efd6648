package callers

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
func (g *Gate) Check(ctx context.Context, token string, audiences []string) error {
	c := callerFrom(ctx)
	if c == nil {
		return nil
	}
	if !c.adm.grant.audiences(audiences) {
		return g.deny(ctx, c, "", OutcomeAudienceDenied, ErrAudienceNotGranted)
	}
	var issuers []string
	if !c.adm.AllIssuers || g.audit.enabled(ctx) {
		issuers = g.issuersOf(token, audiences)
	}
	issuer := strings.Join(issuers, ",")
	if c.adm.AllIssuers || len(issuers) == 0 {
		g.allow(ctx, c, issuer)
		return nil
	}
	// Every issuer the token could reach must be granted: when routing is
	// not settled yet (a kid the issuers sharing an iss must refetch), any
	// of them may end up verifying it.
	for _, name := range issuers {
		ok, err := c.adm.grant.issuer(ctx, c.user, name)
		switch {
		case err != nil:
			return fmt.Errorf("%w: %v", ErrAuthorizationUnavailable, err)
		case !ok:
			return g.deny(ctx, c, issuer, OutcomeIssuerDenied, ErrIssuerNotGranted)
		}
	}
	g.allow(ctx, c, issuer)
	return nil
}

// issuersOf is the issuer whose answer a review would get: the one whose
// answer is cached, else the one routing picks. A cached answer is checked
// by the issuer that gave it, which is what the caller would receive; only
// a miss (where a signature check follows anyway) pays for routing. Should
// the entry expire between this lookup and the review's own, the chain
// routes the token itself, to the same issuer unless two issuers share the
// token's iss and kid.
func (g *Gate) issuersOf(token string, audiences []string) []string {
	if issuer := g.router.AnsweredBy(token, audiences); issuer != "" {
		return []string{issuer}
	}
	return g.router.IssuersOf(token)
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
