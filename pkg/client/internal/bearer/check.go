package bearer

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/klog/v2"
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
	// Faulty: the authenticator accepted the token with an answer that is
	// not an identity (no user, a user without a name, the anonymous
	// user) or that quotes the token: a bug in it. Never treated as
	// success.
	Faulty
	// Limited: the client has had too many tokens refused (see Limit); its
	// token was not checked.
	Limited
)

// errNoAudiences: a service that accepts tokens minted for any audience
// would accept tokens replayed from every other service.
var errNoAudiences = errors.New("audiences are required: a token must be minted for this service")

// Config configures a Checker.
type Config struct {
	// Authenticator checks the tokens. Required.
	Authenticator authenticator.Token
	// Audiences of the service: non-empty, without empty names.
	Audiences []string
	// Logger nil means the request context's (klog.FromContext).
	Logger *logr.Logger
	// Limit, if set, bounds the failed checks per client.
	Limit *Limit
}

// Checker checks the bearer token of a request with an authenticator, for
// the audiences of one service.
type Checker struct {
	auth      authenticator.Token
	audiences authenticator.Audiences
	logger    *logr.Logger
	limiter   *limiter // nil: none
}

// NewChecker returns a Checker, or an error when cfg is incomplete.
func NewChecker(cfg Config) (*Checker, error) {
	if cfg.Authenticator == nil {
		return nil, errors.New("an authenticator is required")
	}
	if len(cfg.Audiences) == 0 {
		return nil, errNoAudiences
	}
	if slices.Contains(cfg.Audiences, "") {
		return nil, fmt.Errorf("audiences %q: an audience must not be empty", cfg.Audiences)
	}
	c := &Checker{auth: cfg.Authenticator, audiences: slices.Clone(cfg.Audiences), logger: cfg.Logger}
	if cfg.Limit != nil {
		if err := cfg.Limit.validate(); err != nil {
			return nil, err
		}
		c.limiter = newLimiter(*cfg.Limit)
	}
	return c, nil
}

// Result is what Check came to.
type Result struct {
	// Context is for the handler: on Accepted it carries the user
	// (request.WithUser, as k8s.io/apiserver's authentication filter puts
	// it) and the audiences the token was accepted for; otherwise it is
	// the request's.
	Context context.Context
	Outcome Outcome
	// Problem says why on NoCredentials and Malformed.
	Problem *Problem
	// RetryAfter: on Limited, how long the client must wait; on
	// Unavailable, the wait the authenticator's error asked for (see
	// describe), 0 when it named none.
	RetryAfter time.Duration
}

// Check authenticates the bearer token in values, the Authorization field's
// values (see Token), of a request from client (the Limit's key).
func (c *Checker) Check(ctx context.Context, values []string, client string) Result {
	token, p := Token(values)
	if p != nil {
		return c.Refuse(ctx, p)
	}
	if c.limiter != nil {
		if wait := c.limiter.wait(client); wait > 0 {
			c.log(ctx).V(logLevelRequest).Info("request refused", "reason", "too many tokens of this client were refused", "client", client, "retryAfter", wait.String())
			return Result{Context: ctx, Outcome: Limited, RetryAfter: wait}
		}
	}
	res := c.check(ctx, token)
	if res.Outcome == Rejected && c.limiter != nil {
		c.limiter.fail(client)
	}
	return res
}

// Refuse logs why a request carries no token to check and returns
// NoCredentials or Malformed.
func (c *Checker) Refuse(ctx context.Context, p *Problem) Result {
	c.log(ctx).V(logLevelRequest).Info("request refused", "reason", p.Description)
	if p.Malformed {
		return Result{Context: ctx, Outcome: Malformed, Problem: p}
	}
	return Result{Context: ctx, Outcome: NoCredentials, Problem: p}
}

func (c *Checker) check(ctx context.Context, token string) Result {
	logger := c.log(ctx)
	// The audiences go only to the authenticator: the handler's context
	// gets the accepted ones (TokenAudiencesFrom), not a request for more.
	resp, ok, err := c.auth.AuthenticateToken(authenticator.WithAudiences(ctx, slices.Clone(c.audiences)), token)
	switch {
	case err != nil:
		// Nothing of the error's text: see describe.
		info := describe(err)
		logger.Error(errWithheld, "token not checked: authenticator unavailable", info.keysAndValues()...)
		return Result{Context: ctx, Outcome: Unavailable, RetryAfter: info.retryAfter}
	case !ok:
		logger.V(logLevelRequest).Info("request refused", "reason", "token rejected")
		return Result{Context: ctx, Outcome: Rejected}
	}
	if problem := notAnIdentity(resp, token); problem != "" {
		// Nothing of the answer: it may be what quotes the token.
		logger.Error(nil, "token not checked: the authenticator accepted it, but its answer is not an identity", "problem", problem)
		return Result{Context: ctx, Outcome: Faulty}
	}
	if len(resp.Audiences) == 0 {
		// kube-apiserver reads "no audiences" as "the API's own"; an app
		// cannot, or a token minted for any service would pass here.
		logger.Error(nil, "token refused: the authenticator named no audiences; it must read authenticator.AudiencesFrom and answer with the ones it checked", "user", resp.User.GetName())
		return Result{Context: ctx, Outcome: Rejected}
	}
	accepted := c.audiences.Intersect(resp.Audiences)
	if len(accepted) == 0 {
		logger.V(logLevelRequest).Info("request refused", "reason", "token valid for other audiences", "user", resp.User.GetName(), "audiences", resp.Audiences)
		return Result{Context: ctx, Outcome: Rejected}
	}
	logger.V(logLevelRequest).Info("request authenticated", "user", resp.User.GetName(), "audiences", accepted)
	return Result{Context: request.WithUser(withTokenAudiences(ctx, accepted), resp.User), Outcome: Accepted}
}

// notAnIdentity says what is wrong with an answer that accepted a token,
// in fixed words; "" when nothing is. An accepted token must name a user:
// a handler given a user named "" (or the anonymous user) serves an
// unauthenticated request as an authenticated one, and one whose answer
// quotes the token would log it wherever it logs the user.
func notAnIdentity(resp *authenticator.Response, token string) string {
	switch {
	case resp == nil:
		return "no answer"
	case isNil(resp.User):
		return "no user"
	}
	u := resp.User
	switch {
	case strings.TrimSpace(u.GetName()) == "":
		return "a user without a name"
	case u.GetName() == user.Anonymous || slices.Contains(u.GetGroups(), user.AllUnauthenticated):
		return "the anonymous user"
	case answerQuotes(resp, token):
		return "the answer quotes the token"
	}
	return ""
}

// isNil: no user, or a nil pointer in the interface, whose methods would
// panic in the handler.
func isNil(u user.Info) bool {
	if u == nil {
		return true
	}
	v := reflect.ValueOf(u)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// answerQuotes reports whether any text of the answer quotes the token:
// what is logged (name, audiences) and what the handler gets.
func answerQuotes(resp *authenticator.Response, token string) bool {
	quotes := func(s string) bool { return Quotes(s, token) }
	u := resp.User
	if quotes(u.GetName()) || quotes(u.GetUID()) || slices.ContainsFunc(u.GetGroups(), quotes) || slices.ContainsFunc(resp.Audiences, quotes) {
		return true
	}
	for k, v := range u.GetExtra() {
		if quotes(k) || slices.ContainsFunc(v, quotes) {
			return true
		}
	}
	return false
}

func (c *Checker) log(ctx context.Context) logr.Logger {
	if c.logger != nil {
		return *c.logger
	}
	return klog.FromContext(ctx)
}
