package jwt

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	josejson "github.com/go-jose/go-jose/v4/json"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/plugin/pkg/authenticator/token/oidc"

	"github.com/tokenfed/tokenfed/pkg/authn/keyset"
	"github.com/tokenfed/tokenfed/pkg/authn/route"
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
	authn     authenticator.Token
	audiences authenticator.Audiences
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
	return &OIDCVerifier{authn: a, audiences: ja.Issuer.Audiences}, nil
}

// Verify authenticates token. The OIDC authenticator has already matched its
// aud against the configured audiences; Verify then applies the review's
// audiences with the same rule as service-account tokens.
func (v *OIDCVerifier) Verify(ctx context.Context, token string) (*Result, error) {
	if err := route.CheckEncoding(token); err != nil {
		return nil, keyset.ErrMalformed
	}
	resp, ok, err := v.authn.AuthenticateToken(ctx, token)
	if err != nil {
		return nil, shorten(err)
	}
	if !ok {
		return nil, ErrIssuer
	}
	c, err := payloadClaims(token)
	if err != nil {
		return nil, err
	}
	if resp.Audiences, err = intersectAudiences(ctx, authenticator.Audiences(c.Audience), v.audiences); err != nil {
		return nil, err
	}
	return &Result{Response: resp, Expiry: expiry(c.Expiry)}, nil
}

type oidcClaims struct {
	Expiry   *josejwt.NumericDate `json:"exp"`
	Audience josejwt.Audience     `json:"aud"`
}

// payloadClaims decodes exp and aud from a token the authenticator has just
// verified, so the payload is trusted here.
func payloadClaims(token string) (*oidcClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, keyset.ErrMalformed
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, keyset.ErrMalformed
	}
	c := &oidcClaims{}
	if err := josejson.Unmarshal(raw, c); err != nil {
		return nil, keyset.ErrMalformed
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
