// Package upstream asks an issuing cluster's own TokenReview API about a
// token: the authority for what local verification cannot see (legacy
// tokens, deleted objects, opaque tokens). It never becomes a liability:
// calls are bounded in number and time, a circuit breaker answers fast
// while the cluster is failing, redirects are refused, and a token is only
// ever sent to the one cluster it was routed to.
//
// What a cluster answers is bounded too, because tokenfed caches it and
// passes it on, and a misbehaving cluster must not be able to hurt:
//
//   - An answer is read up to the length of tokenfed's request plus 1 MiB.
//     kube-apiserver's answer repeats the request's spec (token and
//     audiences), and 1 MiB is kube-apiserver's own cap on request headers
//     (MaxHeaderBytes, k8s.io/apiserver/pkg/server/secure_serving.go), the
//     most identity it takes in from outside in one request.
//   - Of an authenticated answer's user (username, UID, groups, extra keys
//     and values) and audiences: each string at most 4 KiB, at most 1024
//     strings, at most 64 KiB in all. kube-apiserver bounds an identity
//     only by its transport: what one request's headers carry (1 MiB,
//     MaxHeaderBytes; 16384 values, k8s.io/apiserver's
//     header_value_count_go127.go, about 64 bytes a value), which is also
//     what an identity must fit in when kube-apiserver forwards it to an
//     aggregated API server (X-Remote-User, X-Remote-Group,
//     X-Remote-Extra-*). tokenfed keeps to a sixteenth of both, at the same
//     64 bytes a value, because it caches each answer and scans it for
//     echoes of the token: that is still a thousand groups, five times what
//     Azure AD puts in a token (200, then it sends an overage claim), and
//     4 KiB is over ten times the longest name kube-apiserver's own
//     authenticators produce (a service account's username, at most 339
//     bytes: "system:serviceaccount:", a 63-byte namespace, a 253-byte
//     name).
//   - An authenticated answer whose user quotes the token, as it is or
//     base64- or hex-encoded, is refused: tokenfed would pass it on.
//
// A refused answer, like a 4xx that refuses the review itself (400, 413,
// 422), rejects the token (cached as a rejection) rather than making the
// cluster unavailable: see refusal and refusesReview. A 401 or 403 refuses
// tokenfed's own credential: it is answered as ErrCredentialRefused and
// remembered for CredentialHold, so that it costs the cluster one call per
// hold, not one per review (see refusals).
package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// ErrUnavailable marks answers that say nothing about the token: the
// cluster could not be asked. Callers must not cache them as rejections.
var ErrUnavailable = errors.New("issuer's cluster is unavailable")

// ErrRejected marks answers that settle the token as not valid: the
// cluster's own "not authenticated", its refusal of the review itself (a
// 4xx such as 413), or an answer tokenfed refuses to pass on. Callers cache
// them as rejections.
var ErrRejected = errors.New("token rejected by its cluster")

// errNoContextualLogging refuses to build a client that client-go could
// make log tokens: see quiet.
var errNoContextualLogging = errors.New("contextual logging is disabled, so client-go would log upstream reviews, tokens included, at -v=8 and above")

// Options configure a Client.
type Options struct {
	IssuerName string
	// Config reaches the issuing cluster; its user needs `create
	// tokenreviews` (config/upstream-rbac grants only that).
	Config *rest.Config
	// Timeout bounds one review.
	Timeout time.Duration
	// MaxConcurrent bounds reviews in flight; beyond it reviews fail fast.
	MaxConcurrent int
	// Breaker tunes the circuit breaker; zero values get defaults.
	Breaker BreakerOptions
	Metrics *Metrics
	Clock   clock.PassiveClock
}

// Client reviews tokens with one issuing cluster.
type Client struct {
	name    string
	rest    rest.Interface
	timeout time.Duration
	slots   chan struct{}
	breaker *breaker
	// refusals remembers the cluster refusing tokenfed's credential.
	refusals *refusals
	metrics  *Metrics
	clock    clock.PassiveClock
}

// New returns a Client. It builds its HTTP client once, with redirects
// refused: a redirect would send the token to a server nobody configured.
func New(opts Options) (*Client, error) {
	if !contextualLogging() {
		return nil, fmt.Errorf("upstream %s: %w", opts.IssuerName, errNoContextualLogging)
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	rc, err := restClient(opts.Config)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", opts.IssuerName, err)
	}
	return &Client{
		name: opts.IssuerName, rest: rc, timeout: opts.Timeout,
		slots:    make(chan struct{}, max(1, opts.MaxConcurrent)),
		breaker:  newBreaker(opts.Breaker, opts.Clock),
		refusals: &refusals{clock: opts.Clock},
		metrics:  opts.Metrics, clock: opts.Clock,
	}, nil
}

func restClient(cfg *rest.Config) (rest.Interface, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.GroupVersion = &authenticationv1.SchemeGroupVersion
	cfg.APIPath = "/apis"
	cfg.NegotiatedSerializer = codecs.WithoutConversion()
	cfg.UserAgent = "tokenfed"
	// client-go would otherwise allow 5 requests/s (its DefaultQPS) and
	// queue the rest until they time out: the concurrency bound and the
	// breaker are what protect the cluster, not a token bucket.
	cfg.QPS, cfg.RateLimiter = -1, nil
	// A warning is the cluster's text, logged at V(0) by default.
	cfg.WarningHandler, cfg.WarningHandlerWithContext = nil, rest.NoWarnings{}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	hc.Transport = statusRecorder{answerLimit{hc.Transport}}
	return rest.RESTClientForConfigAndClient(cfg, hc)
}

// Review asks the cluster about token for audiences. It returns the
// cluster's user, or an error wrapping ErrRejected, ErrCredentialRefused
// or ErrUnavailable. No error carries text from the cluster or client-go,
// only fixed words and the HTTP status.
func (c *Client) Review(ctx context.Context, token string, audiences []string) (*authenticator.Response, error) {
	t, err := c.admit()
	if err != nil {
		return nil, err
	}
	defer func() { <-c.slots }()
	start := c.clock.Now()
	status, err := c.post(ctx, token, audiences)
	if err == nil && status.Authenticated {
		err = checkAnswer(status, token)
	}
	c.record(ctx, t, err)
	c.metrics.call(c.name, resultLabel(status, err), c.clock.Since(start))
	if err != nil {
		return nil, failed(err)
	}
	return toResponse(status)
}

// ticket is a call admit let out: whether it probes a remembered refusal,
// whether it is the breaker's half-open probe. It holds a slot.
type ticket struct{ refusalProbe, breakerProbe bool }

// admit lets a call out, or answers without one: with a remembered
// refusal of tokenfed's credential, while the circuit is open, or when
// MaxConcurrent calls are in flight.
func (c *Client) admit() (ticket, error) {
	refused, refusalProbe := c.refusals.check()
	if refused != nil {
		c.metrics.call(c.name, "credential_refused", 0)
		return ticket{}, failed(refused)
	}
	ok, probe := c.breaker.allow()
	if !ok {
		c.refusals.release(refusalProbe)
		c.metrics.call(c.name, "breaker_open", 0)
		return ticket{}, fmt.Errorf("%w: circuit open after repeated failures", ErrUnavailable)
	}
	select {
	case c.slots <- struct{}{}:
		return ticket{refusalProbe: refusalProbe, breakerProbe: probe}, nil
	default:
		c.refusals.release(refusalProbe)
		c.breaker.release(probe)
		c.metrics.call(c.name, "busy", 0)
		return ticket{}, fmt.Errorf("%w: too many reviews in flight", ErrUnavailable)
	}
}

// record tells the breaker and the refusal memory how a call ended. The
// breaker needs the callError: its HTTP status says whether the cluster is
// at fault, and it carries Retry-After. A refusal of tokenfed's credential
// is logged when it starts and when it ends, not at every review.
func (c *Client) record(ctx context.Context, t ticket, err error) {
	c.breaker.record(err, t.breakerProbe)
	c.metrics.breakerState(c, c.breaker.state())
	started, ended := c.refusals.record(err, t.refusalProbe)
	logger := klog.FromContext(ctx)
	switch {
	case started:
		logger.Error(err, "Issuer's cluster refuses tokenfed's credential; reviews that need it are refused without a call, and one checks again after the hold",
			"issuer", c.name, "hold", CredentialHold)
	case ended:
		logger.Info("Issuer's cluster no longer refuses tokenfed's credential", "issuer", c.name)
	}
}

// Close retires the client: its breaker's metric series goes with it. A
// hot reload closes the client of an issuer it removes or replaces.
// Reviews still in flight on it finish.
func (c *Client) Close() { c.metrics.forget(c) }

// checkAnswer refuses an authenticated answer that tokenfed must not pass
// on: bounds first, so the echo check reads bounded input.
func checkAnswer(st *authenticationv1.TokenReviewStatus, token string) error {
	if err := checkBounds(st); err != nil {
		return err
	}
	if quotesToken(st, token) {
		return errQuotedToken
	}
	return nil
}

func (c *Client) post(ctx context.Context, token string, audiences []string) (*authenticationv1.TokenReviewStatus, error) {
	var code int
	ctx, cancel := context.WithTimeout(withStatus(quiet(ctx), &code), c.timeout)
	defer cancel()
	req := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: audiences}}
	// MaxRetries(0): client-go would otherwise retry 429s up to ten times,
	// piling on a cluster that asked us to back off.
	res := c.rest.Post().Resource("tokenreviews").MaxRetries(0).Body(req).Do(ctx)
	var out authenticationv1.TokenReview
	err := res.Error()
	if err == nil {
		err = res.Into(&out)
	}
	switch {
	case err == nil:
	case ctx.Err() != nil:
		// An answer cut short by the timeout (an empty or partial body)
		// is a timeout, not a malformed answer: the cluster was slow.
		return nil, &callError{what: transportFailure(ctx.Err()), fault: true}
	case res.Error() != nil:
		return nil, classify(err, code)
	default:
		return nil, errUndecodable(code)
	}
	return &out.Status, nil
}

// quiet gives client-go a logger that discards everything. At -v=6 and
// above client-go logs each request from the context's logger: at -v=8 the
// request body (our spec.token) and the response body (kube-apiserver
// echoes spec.token back), and at any level the cluster's warnings. No
// verbosity an operator picks may write a token, so this call logs
// nothing; tokenfed's own line per review says what happened. It works
// only while contextual logging is on, which New checks.
func quiet(ctx context.Context) context.Context {
	return logr.NewContext(ctx, logr.Discard())
}

// contextualLogging reports whether klog.FromContext, which client-go
// uses, honours the logger in the context; with it off, klog returns the
// global logger and quiet would be ignored.
func contextualLogging() bool {
	return klog.FromContext(quiet(context.Background())).GetSink() == nil
}

// toResponse drops system:authenticated: the calling apiserver adds it
// for itself, and mapping would otherwise turn it into a prefixed group.
func toResponse(st *authenticationv1.TokenReviewStatus) (*authenticator.Response, error) {
	if !st.Authenticated {
		// Not st.Error: the cluster's words are foreign text, and a cluster
		// may quote the token in them.
		return nil, ErrRejected
	}
	info := &user.DefaultInfo{
		Name: st.User.Username, UID: st.User.UID,
		Groups: slices.DeleteFunc(slices.Clone(st.User.Groups), func(g string) bool { return g == user.AllAuthenticated }),
	}
	if len(st.User.Extra) > 0 {
		info.Extra = make(map[string][]string, len(st.User.Extra))
		for k, v := range st.User.Extra {
			info.Extra[k] = slices.Clone(v)
		}
	}
	return &authenticator.Response{User: info, Audiences: st.Audiences}, nil
}

func resultLabel(st *authenticationv1.TokenReviewStatus, err error) string {
	switch {
	case err != nil:
		return "error"
	case st.Authenticated:
		return "authenticated"
	default:
		return "unauthenticated"
	}
}
