package authn

import (
	"context"
	"errors"

	"k8s.io/apiserver/pkg/authentication/authenticator"

	"github.com/tokenfed/tokenfed/pkg/authn/jws"
)

// CallerTokens is the chain as it reviews callers' own bearer tokens.
// Such a token arrives before its sender is authenticated, so reviewing it
// must cost no more than a local verification:
//   - a token that does not verify locally goes to no upstream (no legacy
//     fallback, no unknown-kid fallback), and an opaque token is refused;
//     a verified token is still confirmed upstream when its issuer's policy
//     says so, which only its holder can cause;
//   - its answers live in a cache of their own (callerCache), so neither
//     forged caller tokens nor the reviews callers ask for evict the
//     other's entries.
//
// It implements authenticator.Token and callers.IssuerRouter.
type CallerTokens struct{ c *Chain }

var _ authenticator.Token = CallerTokens{}

// CallerTokens returns the caller-token view of the chain.
func (c *Chain) CallerTokens() CallerTokens { return CallerTokens{c: c} }

// AuthenticateToken reviews a caller token for the audiences of ctx.
func (t CallerTokens) AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	token, err := canonical(token)
	if err != nil {
		t.c.metrics.outcome("", "rejected")
		return nil, false, err
	}
	return t.c.callerCache.AuthenticateToken(ctx, token)
}

// Cached returns the authenticated answer the caller-token cache holds for
// token and audiences, as Chain.Cached does for reviews.
func (t CallerTokens) Cached(token string, audiences []string) (*authenticator.Response, bool) {
	token, err := canonical(token)
	if err != nil {
		return nil, false
	}
	return t.c.callerCache.LookupAuthenticated(audiences, token)
}

// IssuersOf names the issuers a caller token could be verified by: as
// Chain.IssuersOf, but none for an opaque token, which is never one.
func (t CallerTokens) IssuersOf(token string) []string {
	canon, err := canonical(token)
	if err != nil {
		return nil
	}
	if _, err := jws.Parse(canon); errors.Is(err, jws.ErrNotJWT) {
		return nil
	}
	return t.c.IssuersOf(token)
}
