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
	// An authenticator error that carries its own wait takes precedence:
	// one with a RetryAfter time.Duration field in its chain, as
	// pkg/client's CallerRefusedError (tokenfed's 429) and
	// UnavailableError have.
	RetryAfter time.Duration

	// ClientLimit, if set, bounds per client the tokens that are checked
	// and not accepted, so that a client making tokens up cannot spend
	// this service's rate at tokenfed (see ClientLimit). Nil: no limit.
	ClientLimit *ClientLimit

	// Logger receives one line per request at V(2) (why it was refused,
	// or who it is), and an error line when the authenticator fails or
	// answers with something that is not an identity. Never a token, and
	// never the text of the authenticator's error, which may quote it:
	// only its Go types, a fixed word for a timeout or a system call error
	// ("connection refused"), and its HTTP status and Retry-After when it
	// has Code and RetryAfter fields. Nil means the request context's
	// logger (klog.FromContext).
	Logger *logr.Logger
}

// DefaultMaxClients is ClientLimit.MaxClients' default.
const DefaultMaxClients = bearer.DefaultMaxClients

// ClientLimit bounds, per client, the tokens that are checked and not
// accepted. Each cost a review at tokenfed, charged to this service's own
// rate there; once that is spent tokenfed refuses the service (429), and
// every request, of every real user, is answered 503 until it refills.
//
// Only failed checks count: a client whose tokens are accepted is never
// limited, unless it shares its key with one whose tokens are not (behind
// a NAT or a proxy; see Key). A client with no failures left is answered
// 429 with Retry-After, without its token being checked, until it has
// earned one back. Over any period T a client causes at most
// Burst + Rate·T failed checks, plus those it had in flight when it ran
// out, which it then waits out as debt.
//
// This bounds each client, not their number: a client with many
// addresses (a botnet, many IPv6 /64s), or many clients at once, can
// still spend the service's rate. See the package documentation.
type ClientLimit struct {
	// Rate is how many failed checks per second a client earns back.
	// Required, > 0.
	Rate float64
	// Burst is how many failed checks a client may cause at once.
	// Required, >= 1.
	Burst int
	// MaxClients bounds the clients remembered; when a new one comes and
	// the table is full, the one least recently seen is forgotten.
	// Default DefaultMaxClients.
	MaxClients int
	// Key names the client of a request. Default ClientIP. Behind a
	// reverse proxy every request comes from the proxy's address: use a
	// field the proxy sets itself (never one the client can send).
	// Requests of one key, "" included, share one client's limit.
	Key func(*http.Request) string
}

// ClientIP is ClientLimit.Key's default: the IP address of
// r.RemoteAddr, an IPv6 address cut to its /64.
func ClientIP(r *http.Request) string { return bearer.ClientIP(r.RemoteAddr) }

// Middleware authenticates requests by their bearer token.
type Middleware struct {
	checker    *bearer.Checker
	realm      string
	retryAfter time.Duration
	clientKey  func(*http.Request) string // nil: no ClientLimit
}

// New returns a Middleware, or an error when opts are incomplete.
func New(opts Options) (*Middleware, error) {
	cfg := bearer.Config{Authenticator: opts.Authenticator, Audiences: opts.Audiences, Logger: opts.Logger}
	var clientKey func(*http.Request) string // nil: no limit
	if l := opts.ClientLimit; l != nil {
		cfg.Limit = &bearer.Limit{Rate: l.Rate, Burst: l.Burst, MaxClients: l.MaxClients}
		clientKey = ClientIP
		if l.Key != nil {
			clientKey = l.Key
		}
	}
	checker, err := bearer.NewChecker(cfg)
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
		retryAfter: retry,
		clientKey:  clientKey,
	}, nil
}

// seconds is d as a Retry-After: whole seconds, rounded up, at least 1.
func seconds(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// Wrap returns next behind bearer-token authentication. next is called only
// for an accepted token, with the user in the request's context
// (request.UserFrom) and the Authorization field removed, so that next
// cannot forward or log it. Every other request is answered here; see the
// package documentation for the status of each case.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res := m.check(r)
		switch res.Outcome {
		case bearer.Accepted:
			// As k8s.io/apiserver's filter does: in place, on the request
			// next receives.
			r.Header.Del("Authorization")
			next.ServeHTTP(w, r.WithContext(res.Context))
		case bearer.NoCredentials:
			m.challenge(w, http.StatusUnauthorized, "", "", "bearer token required")
		case bearer.Malformed:
			m.challenge(w, http.StatusBadRequest, "invalid_request", res.Problem.Description, res.Problem.Description)
		case bearer.Rejected:
			m.challenge(w, http.StatusUnauthorized, "invalid_token", invalidTokenDescription, invalidTokenDescription)
		case bearer.Unavailable:
			// Not 401: the token was not judged, and a client that drops
			// its token on 401 would drop a good one. The authenticator's
			// own wait (tokenfed's Retry-After on a 429) when it has one.
			retry := m.retryAfter
			if res.RetryAfter > 0 {
				retry = res.RetryAfter
			}
			w.Header().Set("Retry-After", seconds(retry))
			http.Error(w, "Service Unavailable: authentication is temporarily unavailable", http.StatusServiceUnavailable)
		case bearer.Limited:
			// Not 401: the token was not judged either.
			w.Header().Set("Retry-After", seconds(res.RetryAfter))
			http.Error(w, "Too Many Requests: too many tokens from this client were not accepted", http.StatusTooManyRequests)
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

func (m *Middleware) check(r *http.Request) bearer.Result {
	values := r.Header.Values("Authorization")
	// The body (form-encoded access_token) is not read: it is next's.
	if len(values) > 0 && r.URL.Query().Has("access_token") {
		return m.checker.Refuse(r.Context(), errTwoMethods)
	}
	var client string
	if m.clientKey != nil {
		client = m.clientKey(r)
	}
	return m.checker.Check(r.Context(), values, client)
}

// TokenAudiencesFrom returns the audiences the request's token was accepted
// for: those of Options.Audiences that the authenticator confirmed. It is
// the same value grpcauth.TokenAudiencesFrom reads.
func TokenAudiencesFrom(ctx context.Context) (authenticator.Audiences, bool) {
	return bearer.TokenAudiencesFrom(ctx)
}
