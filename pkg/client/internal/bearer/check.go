package bearer

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/go-logr/logr"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/klog/v2"

	"github.com/tokenfed/tokenfed/pkg/redact"
)

// logLevelRequest logs one line per refused or accepted request: why it was
// refused, or who it is. Never the token.
const logLevelRequest = 2

// Outcome is what checking a request's credentials came to. Each transport
// maps it to its own status.
type Outcome int

const (
	// Accepted: the token is valid for one of the service's audiences.
	Accepted Outcome = iota
	// NoCredentials: no bearer credentials at all (RFC 6750 §3.1: a
	// challenge without an error code).
	NoCredentials
	// Malformed: the request is malformed (RFC 6750 invalid_request).
	Malformed
	// Rejected: the authenticator judged the token and did not accept it
	// for any of the service's audiences (RFC 6750 invalid_token).
	Rejected
	// Unavailable: the authenticator returned an error, so the token was
	// not judged: tokenfed could not be reached, or refused this service
	// as a caller. Never an answer about the token.
	Unavailable
	// Faulty: the authenticator accepted the token but named no user, a bug
	// in it. Never treated as success.
	Faulty
)

// errNoAudiences: a service that accepts tokens minted for any audience
// would accept tokens replayed from every other service.
var errNoAudiences = errors.New("audiences are required: a token must be minted for this service")

// Checker checks the bearer token of a request with an authenticator, for
// the audiences of one service.
type Checker struct {
	auth      authenticator.Token
	audiences authenticator.Audiences
	logger    *logr.Logger
}

// NewChecker returns a Checker. audiences must be non-empty, without empty
// names. logger nil means the request context's (klog.FromContext).
func NewChecker(auth authenticator.Token, audiences []string, logger *logr.Logger) (*Checker, error) {
	if auth == nil {
		return nil, errors.New("an authenticator is required")
	}
	if len(audiences) == 0 {
		return nil, errNoAudiences
	}
	if slices.Contains(audiences, "") {
		return nil, fmt.Errorf("audiences %q: an audience must not be empty", audiences)
	}
	return &Checker{auth: auth, audiences: slices.Clone(audiences), logger: logger}, nil
}

// Check authenticates the bearer token in values, the Authorization field's
// values (see Token). On Accepted the context carries the user
// (request.WithUser, as k8s.io/apiserver's authentication filter puts it)
// and the audiences the token was accepted for; otherwise it is ctx. On
// NoCredentials and Malformed the *Problem says why.
func (c *Checker) Check(ctx context.Context, values []string) (context.Context, Outcome, *Problem) {
	token, p := Token(values)
	if p != nil {
		return ctx, c.Refuse(ctx, p), p
	}
	ctx, outcome := c.check(ctx, token)
	return ctx, outcome, nil
}

// Refuse logs why a request carries no token to check and returns
// NoCredentials or Malformed.
func (c *Checker) Refuse(ctx context.Context, p *Problem) Outcome {
	c.log(ctx).V(logLevelRequest).Info("request refused", "reason", p.Description)
	if p.Malformed {
		return Malformed
	}
	return NoCredentials
}

func (c *Checker) check(ctx context.Context, token string) (context.Context, Outcome) {
	logger := c.log(ctx)
	// The audiences go only to the authenticator: the handler's context
	// gets the accepted ones (TokenAudiencesFrom), not a request for more.
	resp, ok, err := c.auth.AuthenticateToken(authenticator.WithAudiences(ctx, slices.Clone(c.audiences)), token)
	switch {
	case err != nil:
		// The authenticator's words may come from a library that quotes
		// what it was given.
		logger.Error(errors.New(redact.Scrub(err.Error(), token)), "token not checked: authenticator unavailable")
		return ctx, Unavailable
	case !ok:
		logger.V(logLevelRequest).Info("request refused", "reason", "token rejected")
		return ctx, Rejected
	case resp == nil || resp.User == nil:
		logger.Error(nil, "token not checked: authenticator accepted it but named no user")
		return ctx, Faulty
	}
	if len(resp.Audiences) == 0 {
		// kube-apiserver reads "no audiences" as "the API's own"; an app
		// cannot, or a token minted for any service would pass here.
		logger.Error(nil, "token refused: the authenticator named no audiences; it must read authenticator.AudiencesFrom and answer with the ones it checked", "user", resp.User.GetName())
		return ctx, Rejected
	}
	accepted := c.audiences.Intersect(resp.Audiences)
	if len(accepted) == 0 {
		logger.V(logLevelRequest).Info("request refused", "reason", "token valid for other audiences", "user", resp.User.GetName(), "audiences", resp.Audiences)
		return ctx, Rejected
	}
	logger.V(logLevelRequest).Info("request authenticated", "user", resp.User.GetName(), "audiences", accepted)
	return request.WithUser(withTokenAudiences(ctx, accepted), resp.User), Accepted
}

func (c *Checker) log(ctx context.Context) logr.Logger {
	if c.logger != nil {
		return *c.logger
	}
	return klog.FromContext(ctx)
}
