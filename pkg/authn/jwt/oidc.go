package jwt

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/plugin/pkg/authenticator/token/oidc"

	"github.com/tokenfed/tokenfed/pkg/authn/jws"
	"github.com/tokenfed/tokenfed/pkg/authn/keyset"
)

// maxErrorLen bounds error text passed on from the OIDC authenticator, whose
// messages may quote claim values.
const maxErrorLen = 200

// OIDCOptions configure an OIDCVerifier.
type OIDCOptions struct {
	// JWTAuthenticator is kube-apiserver's structured authentication entry:
	// issuer URL (https), audiences, claim mappings and CEL validation rules.
	// Issuer.DiscoveryURL is ignored here: it belongs to the key set, and the
	// OIDC authenticator refuses it together with an external key set.
	JWTAuthenticator apiserver.JWTAuthenticator
	// KeySet verifies signatures. Required.
	KeySet *keyset.KeySet
	// ReviewAudiences are the review audiences the authenticator's own
	// audience check stands in for, as kube-apiserver's --api-audiences do
	// for its JWT authenticators (authenticator.WrapAudienceAgnosticToken).
	// Empty: the token's aud must match a review audience directly.
	ReviewAudiences []string
	// SupportedSigningAlgs defaults to RS256, as in kube-apiserver.
	SupportedSigningAlgs []string
	// Client is used only to resolve distributed claims (OIDC "_claim_sources"
	// for the groups claim). Nil refuses such requests, so the content of a
	// token never makes tokenfed connect anywhere; tokens that need one fail.
	Client *http.Client
}

// OIDCVerifier verifies OIDC tokens with kube-apiserver's own JWT
// authenticator, so claim mappings and CEL rules behave exactly as there.
type OIDCVerifier struct {
	authn           authenticator.Token
	audiences       authenticator.Audiences
	reviewAudiences authenticator.Audiences
	bare            bareNames
}

// NewOIDCVerifier builds the authenticator. ctx bounds its lifetime.
func NewOIDCVerifier(ctx context.Context, opts OIDCOptions) (*OIDCVerifier, error) {
	if opts.KeySet == nil {
		return nil, errors.New("oidc verifier needs a key set")
	}
	ja := *opts.JWTAuthenticator.DeepCopy()
	ja.Issuer.DiscoveryURL = ""
	client := opts.Client
	if client == nil {
		client = &http.Client{Transport: refuseTransport{}}
	}
	a, err := oidc.New(ctx, oidc.Options{
		JWTAuthenticator:     ja,
		KeySet:               opts.KeySet,
		SupportedSigningAlgs: opts.SupportedSigningAlgs,
		Client:               client,
	})
	if err != nil {
		return nil, fmt.Errorf("oidc verifier for %s: %w", ja.Issuer.URL, err)
	}
	bare, err := newBareNames(ja.ClaimMappings)
	if err != nil {
		return nil, fmt.Errorf("oidc verifier for %s: %w", ja.Issuer.URL, err)
	}
	return &OIDCVerifier{authn: a, audiences: ja.Issuer.Audiences, reviewAudiences: opts.ReviewAudiences, bare: bare}, nil
}

// Verify authenticates token. The OIDC authenticator has already matched its
// aud against the configured audiences; Verify then answers for the review's
// audiences: those the token's aud names (the rule of service-account
// tokens), or else those the issuer's check stands in for (ReviewAudiences).
// A username or group mapped from empty claims is refused or dropped (see
// bareNames).
func (v *OIDCVerifier) Verify(ctx context.Context, token string) (*Result, error) {
	t, err := jws.Parse(token)
	if err != nil {
		return nil, jws.ErrMalformed
	}
	return v.VerifyToken(ctx, t)
}

// VerifyToken is Verify for a parsed token. The parse travels in the
// context to the key set (jws.ParseOnce), which kube-apiserver's
// authenticator hands the raw token.
func (v *OIDCVerifier) VerifyToken(ctx context.Context, t *jws.Token) (*Result, error) {
	resp, ok, err := v.authn.AuthenticateToken(jws.WithParsed(ctx, t), t.Raw)
	if err != nil {
		return nil, shorten(err)
	}
	if !ok {
		return nil, ErrIssuer
	}
	if resp, err = v.bare.check(resp); err != nil {
		return nil, err
	}
	c, err := oidcClaimsOf(&t.Claims)
	if err != nil {
		return nil, err
	}
	if resp.Audiences, err = v.answerAudiences(ctx, authenticator.Audiences(c.Audience)); err != nil {
		return nil, err
	}
	return &Result{Response: resp, Expiry: expiry(c.Expiry)}, nil
}

// answerAudiences is the direct intersection when there is one, else the
// review's audiences this issuer stands in for. A stand-in answer never
// includes an audience the operator did not list, so asking about an
// arbitrary audience does not make an OIDC token valid for it.
func (v *OIDCVerifier) answerAudiences(ctx context.Context, tokenAuds authenticator.Audiences) (authenticator.Audiences, error) {
	direct, err := intersectAudiences(ctx, tokenAuds, v.audiences)
	if err == nil || len(v.reviewAudiences) == 0 {
		return direct, err
	}
	target, ok := authenticator.AudiencesFrom(ctx)
	if !ok || len(target) == 0 {
		return nil, err
	}
	if standIn := target.Intersect(v.reviewAudiences); len(standIn) > 0 {
		return standIn, nil
	}
	return nil, err
}

type oidcClaims struct {
	Expiry   *josejwt.NumericDate
	Audience josejwt.Audience
}

// oidcClaimsOf decodes exp and aud from a token the authenticator has just
// verified, so the payload is trusted here.
func oidcClaimsOf(o *jws.Object) (*oidcClaims, error) {
	c := &oidcClaims{}
	var err error
	if raw, ok := o.Get("exp"); ok {
		if c.Expiry, err = decodeNumericDate(raw); err != nil {
			return nil, jws.ErrMalformed
		}
	}
	if raw, ok := o.Get("aud"); ok {
		if c.Audience, err = decodeAudience(raw); err != nil {
			return nil, jws.ErrMalformed
		}
	}
	return c, nil
}

// shorten keeps the authenticator's message, which is useful to operators,
// but bounds its length.
func shorten(err error) error {
	msg := err.Error()
	if len(msg) > maxErrorLen {
		msg = msg[:maxErrorLen] + "..."
	}
	return errors.New(msg)
}

type refuseTransport struct{}

func (refuseTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("distributed claims are disabled")
}
