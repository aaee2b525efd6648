package httpauth

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apiserver/pkg/authentication/authenticator"

	"github.com/tokenfed/tokenfed/pkg/client/internal/bearer"
)

// DefaultRetryAfter is Options.RetryAfter's default.
const DefaultRetryAfter = 5 * time.Second

// Options configure a Middleware.
type Options struct {
	// Authenticator checks tokens: a *client.Client of tokenfed's Go client,
	// k8s.io/apiserver's webhook token authenticator, or any other. It is
	// given Audiences through authenticator.WithAudiences and must answer
	// with the ones it checked (Response.Audiences); an answer naming none
	// is refused, since it would accept a token minted for any service.
	// It returns (nil, false, nil) for a token it rejects, and an error only
	// when it could not judge the token. Required.
	Authenticator authenticator.Token

	// Audiences this API accepts: a token must have been minted for one of
	// them, so that a token sent to another service cannot be replayed
	// here. Required, non-empty.
	Audiences []string

	// Realm is the realm of the WWW-Authenticate challenge (RFC 7235
	// §2.2), e.g. the API's name. Optional; it must not contain control
	// characters other than tab.
	Realm string

	// RetryAfter is the Retry-After of a 503 answer when the authenticator
	// is unavailable, rounded up to whole seconds. Default DefaultRetryAfter.
	RetryAfter time.Duration

	// Logger receives one line per request at V(2) (why it was refused,
	// or who it is) and errors of the authenticator. Never a token. Nil
	// means the request context's logger (klog.FromContext).
	Logger *logr.Logger
}

// Middleware authenticates requests by their bearer token.
type Middleware struct {
	checker    *bearer.Checker
	realm      string
	retryAfter string
}

// New returns a Middleware, or an error when opts are incomplete.
func New(opts Options) (*Middleware, error) {
	checker, err := bearer.NewChecker(opts.Authenticator, opts.Audiences, opts.Logger)
	if err != nil {
		return nil, err
	}
	if strings.ContainsFunc(opts.Realm, isCTL) {
		return nil, fmt.Errorf("realm %q: control characters cannot be sent in a challenge", opts.Realm)
	}
	retry := opts.RetryAfter
	if retry <= 0 {
		retry = DefaultRetryAfter
	}
	return &Middleware{
		checker:    checker,
		realm:      opts.Realm,
		retryAfter: strconv.Itoa(int(math.Ceil(retry.Seconds()))),
	}, nil
}

// Wrap returns next behind bearer-token authentication. next is called only
// for an accepted token, with the user in the request's context
// (request.UserFrom) and the Authorization field removed, so that next
// cannot forward or log it. Every other request is answered here; see the
// package documentation for the status of each case.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, outcome, problem := m.check(r)
		switch outcome {
		case bearer.Accepted:
			// As k8s.io/apiserver's filter does: in place, on the request
			// next receives.
			r.Header.Del("Authorization")
			next.ServeHTTP(w, r.WithContext(ctx))
		case bearer.NoCredentials:
			m.challenge(w, http.StatusUnauthorized, "", "", "bearer token required")
		case bearer.Malformed:
			m.challenge(w, http.StatusBadRequest, "invalid_request", problem.Description, problem.Description)
		case bearer.Rejected:
			m.challenge(w, http.StatusUnauthorized, "invalid_token", invalidTokenDescription, invalidTokenDescription)
		case bearer.Unavailable:
			// Not 401: the token was not judged, and a client that drops
			// its token on 401 would drop a good one.
			w.Header().Set("Retry-After", m.retryAfter)
			http.Error(w, "Service Unavailable: authentication is temporarily unavailable", http.StatusServiceUnavailable)
		default:
			http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		}
	})
}

// invalidTokenDescription says why a token is refused without saying
// which check failed: the authenticator does not tell, and a prober
// should not learn it.
const invalidTokenDescription = "the token is invalid, expired, revoked or not for this service"

// errTwoMethods: RFC 6750 §2 lets a client use one method per request, and
// §3.1 calls more than one invalid_request. Only the header is read; a
// request that also has an access_token query parameter is refused rather
// than served with one of two tokens that may name different users.
var errTwoMethods = &bearer.Problem{Malformed: true, Description: "a token in both the Authorization field and the access_token query parameter"}

func (m *Middleware) check(r *http.Request) (context.Context, bearer.Outcome, *bearer.Problem) {
	values := r.Header.Values("Authorization")
	// The body (form-encoded access_token) is not read: it is next's.
	if len(values) > 0 && r.URL.Query().Has("access_token") {
		return r.Context(), m.checker.Refuse(r.Context(), errTwoMethods), errTwoMethods
	}
	return m.checker.Check(r.Context(), values)
}

// TokenAudiencesFrom returns the audiences the request's token was accepted
// for: those of Options.Audiences that the authenticator confirmed. It is
// the same value grpcauth.TokenAudiencesFrom reads.
func TokenAudiencesFrom(ctx context.Context) (authenticator.Audiences, bool) {
	return bearer.TokenAudiencesFrom(ctx)
}
