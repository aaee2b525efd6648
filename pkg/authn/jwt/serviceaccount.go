package jwt

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/utils/clock"

	"github.com/tokenfed/tokenfed/pkg/authn/jws"
)

// Time claim errors, worded as kube-apiserver words them.
var (
	ErrExpired        = errors.New("service account token has expired")
	ErrNotYetValid    = errors.New("service account token is not valid yet")
	ErrIssuedInFuture = errors.New("service account token is issued in the future")
	ErrNoExpiry       = errors.New("service account token has no expiry")
)

// ServiceAccountOptions configure a ServiceAccountVerifier.
type ServiceAccountOptions struct {
	// Issuers are the accepted iss values (kube-apiserver
	// --service-account-issuer). Add jws.LegacyIssuer to recognise secret-based
	// tokens, which then yield ErrLegacyNeedsUpstream.
	Issuers []string
	// Audiences are the cluster's API audiences (--api-audiences). They
	// apply when a review names no audiences, and a token without aud is
	// taken to be for them, as in kube-apiserver. Required.
	Audiences []string
	// Keys verifies signatures; usually the issuer's *keyset.KeySet.
	Keys Keys
	// Algorithms is the allow-list; default jws.DefaultServiceAccountAlgorithms.
	// The key set's own allow-list applies too.
	Algorithms []string
	// AllowMissingExpiry accepts bound-style tokens without exp. Off by
	// default: kube-apiserver only mints such tokens as legacy tokens.
	AllowMissingExpiry bool
	// Clock defaults to the real clock.
	Clock clock.PassiveClock
}

// ServiceAccountVerifier verifies Kubernetes service-account tokens locally.
type ServiceAccountVerifier struct {
	issuers    map[string]bool
	audiences  authenticator.Audiences
	keys       Keys
	algs       []string
	allowNoExp bool
	clock      clock.PassiveClock
}

// NewServiceAccountVerifier validates opts.
func NewServiceAccountVerifier(opts ServiceAccountOptions) (*ServiceAccountVerifier, error) {
	if len(opts.Issuers) == 0 || len(opts.Audiences) == 0 || opts.Keys == nil {
		return nil, errors.New("service account verifier needs issuers, audiences and keys")
	}
	v := &ServiceAccountVerifier{
		issuers:    map[string]bool{},
		audiences:  opts.Audiences,
		keys:       opts.Keys,
		allowNoExp: opts.AllowMissingExpiry,
		clock:      opts.Clock,
	}
	if v.clock == nil {
		v.clock = clock.RealClock{}
	}
	for _, iss := range opts.Issuers {
		v.issuers[iss] = true
	}
	algs := opts.Algorithms
	if len(algs) == 0 {
		algs = jws.DefaultServiceAccountAlgorithms
	}
	v.algs = slices.Clone(algs)
	return v, nil
}

// Verify parses token and verifies it as VerifyToken does.
func (v *ServiceAccountVerifier) Verify(ctx context.Context, token string) (*Result, error) {
	t, err := jws.Parse(token)
	if err != nil {
		return nil, jws.ErrMalformed
	}
	return v.VerifyToken(ctx, t)
}

// VerifyToken checks signature, issuer, audiences and time claims, then
// maps the claims to the user kube-apiserver would report. It follows
// pkg/serviceaccount's order: signature, issuer, audience, claims.
func (v *ServiceAccountVerifier) VerifyToken(ctx context.Context, t *jws.Token) (*Result, error) {
	c, err := v.verifiedClaims(ctx, t)
	if err != nil {
		return nil, err
	}
	if !v.issuers[c.Issuer] {
		return nil, ErrIssuer
	}
	tokenAuds := authenticator.Audiences(c.Audience)
	if len(tokenAuds) == 0 {
		tokenAuds = v.audiences
	}
	auds, err := intersectAudiences(ctx, tokenAuds, v.audiences)
	if err != nil {
		return nil, err
	}
	if c.Issuer == jws.LegacyIssuer {
		if err := c.checkLegacy(); err != nil {
			return nil, err
		}
		return nil, ErrLegacyNeedsUpstream
	}
	if err := v.checkTimes(&c.Claims); err != nil {
		return nil, err
	}
	info, bound, err := c.Kubernetes.serviceAccountInfo(c.ID)
	if err != nil {
		return nil, err
	}
	refs := c.Kubernetes.refs()
	refs.IssuedAt = expiry(c.IssuedAt)
	return &Result{
		Response: &authenticator.Response{User: info.UserInfo(), Audiences: auds},
		Expiry:   expiry(c.Expiry),
		BoundTo:  bound,
		Refs:     refs,
	}, nil
}

// verifiedClaims checks the header, then the signature with the key its
// kid and alg select, then decodes the claims from the parse routing made.
func (v *ServiceAccountVerifier) verifiedClaims(ctx context.Context, t *jws.Token) (*saClaims, error) {
	if err := t.CheckHeader(v.algs); err != nil {
		return nil, err
	}
	key, err := v.keys.Key(ctx, t.Header.Kid, t.Header.Alg)
	if err != nil {
		return nil, err
	}
	if err := t.Verify(key); err != nil {
		return nil, err
	}
	c, err := decodeSAClaims(&t.Claims)
	if err != nil {
		return nil, jws.ErrMalformed
	}
	return c, nil
}

// checkTimes applies go-jose's one-minute leeway to exp, nbf and iat, as
// kube-apiserver's validator does.
func (v *ServiceAccountVerifier) checkTimes(c *josejwt.Claims) error {
	if c.Expiry == nil && !v.allowNoExp {
		return ErrNoExpiry
	}
	err := c.ValidateWithLeeway(josejwt.Expected{Time: v.clock.Now()}, josejwt.DefaultLeeway)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, josejwt.ErrExpired):
		return ErrExpired
	case errors.Is(err, josejwt.ErrNotValidYet):
		return ErrNotYetValid
	case errors.Is(err, josejwt.ErrIssuedInTheFuture):
		return ErrIssuedInFuture
	}
	return fmt.Errorf("service account token claims could not be validated: %w", err)
}

func expiry(d *josejwt.NumericDate) time.Time {
	if d == nil {
		return time.Time{}
	}
	return d.Time()
}
