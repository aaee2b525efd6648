package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"
	"k8s.io/utils/clock"

	"github.com/tokenfed/tokenfed/pkg/authn/cache"
	"github.com/tokenfed/tokenfed/pkg/redact"
)

// Client asks tokenfed about tokens. It is safe for concurrent use: build
// one when the application starts and share it, as it holds the
// connections and the cache.
type Client struct {
	rest       rest.Interface
	timeout    time.Duration
	maxRetries int
	clock      clock.Clock
	cache      *cache.Cache // nil: off
}

// The middleware (pkg/client/httpauth, pkg/client/grpcauth) takes any
// authenticator.Token; a *Client is one.
var _ authenticator.Token = (*Client)(nil)

// Result is tokenfed's answer for an authenticated token.
type Result struct {
	// User is status.user: the federated username (with its issuer's
	// prefix, e.g. hub:system:serviceaccount:devices:device-1), UID,
	// groups and extra (always tokenfed.io/issuer).
	User user.Info
	// Audiences is status.audiences. When the review named audiences, it
	// is those of them the token is valid for, never empty.
	Audiences []string
}

// Status is the result as the status of a TokenReview.
func (r *Result) Status() authenticationv1.TokenReviewStatus {
	st := authenticationv1.TokenReviewStatus{
		Authenticated: true,
		User: authenticationv1.UserInfo{
			Username: r.User.GetName(), UID: r.User.GetUID(),
			Groups: slices.Clone(r.User.GetGroups()),
		},
		Audiences: slices.Clone(r.Audiences),
	}
	if extra := r.User.GetExtra(); len(extra) > 0 {
		st.User.Extra = make(map[string]authenticationv1.ExtraValue, len(extra))
		for k, v := range extra {
			st.User.Extra[k] = slices.Clone(v)
		}
	}
	return st
}

// askFunc is one review without the cache: Client.ask.
type askFunc func(ctx context.Context, token string, auds []string) (*authenticator.Response, error)

// errNoContextualLogging refuses to build a client that client-go could
// make log tokens: see quiet.
var errNoContextualLogging = errors.New("klog's contextual logging is disabled, so client-go would log reviews, tokens included, at -v=8 and above")

// New builds a Client from cfg. It reads the CA, the client certificate
// and the caller token file once now, so a wrong path fails here rather
// than on the first review. It sends nothing.
func New(cfg Config) (*Client, error) {
	return newWithClock(cfg, clock.RealClock{})
}

func newWithClock(cfg Config, clk clock.Clock) (*Client, error) {
	if !contextualLogging() {
		return nil, errNoContextualLogging
	}
	cfg = cfg.withDefaults()
	rc, tokenFile, err := cfg.restConfig()
	if err != nil {
		return nil, err
	}
	rs, err := restClient(rc, tokenFile)
	if err != nil {
		return nil, err
	}
	c := &Client{rest: rs, timeout: cfg.Timeout, maxRetries: cfg.MaxRetries, clock: clk}
	if cfg.Cache.MaxEntries > 0 {
		c.cache = newCache(cfg.Cache, clk, cfg.Timeout, c.ask)
	}
	return c, nil
}

var codecs = func() serializer.CodecFactory {
	scheme := runtime.NewScheme()
	// Registers static types only; an error is a programming bug.
	if err := authenticationv1.AddToScheme(scheme); err != nil {
		panic(err)
	}
	return serializer.NewCodecFactory(scheme)
}()

// restClient is client-go's REST client posting to exactly the server URL
// (or ReviewPath on it), as k8s.io/apiserver's webhook client does.
func restClient(rc *rest.Config, tokenFile string) (rest.Interface, error) {
	rc = rest.CopyConfig(rc)
	rc.GroupVersion = nil
	base, _, err := rest.DefaultServerUrlFor(rc)
	if err != nil {
		return nil, err
	}
	if base.Scheme != "https" {
		return nil, fmt.Errorf("server %s: only https is allowed, tokens must not cross the network in the clear", base.Redacted())
	}
	rc.APIPath = ""
	if base.Path == "" || base.Path == "/" {
		rc.APIPath = ReviewPath
	}
	rc.NegotiatedSerializer = codecs.WithoutConversion()
	rc.ContentType, rc.AcceptContentTypes = runtime.ContentTypeJSON, runtime.ContentTypeJSON
	if rc.UserAgent == "" {
		rc.UserAgent = defaultUserAgent
	}
	// Neither client-side throttling (client-go's default is 5/s, queueing
	// the rest) nor a timeout of its own: tokenfed limits callers, and the
	// context bounds a review.
	rc.QPS, rc.RateLimiter, rc.Timeout = -1, nil, 0
	// A warning is the server's text, logged at -v=0 by default.
	rc.WarningHandler, rc.WarningHandlerWithContext = nil, rest.NoWarnings{}
	if tokenFile != "" {
		ts := newFileTokenSource(tokenFile)
		if _, err := ts.Token(); err != nil {
			return nil, err
		}
		rc.Wrap(transport.TokenSourceWrapTransport(ts))
	}
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return nil, err
	}
	// A redirect would send the token to a server nobody configured.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	hc.Transport = answerRecorder{hc.Transport}
	return rest.UnversionedRESTClientForConfigAndClient(rc, hc)
}

// Review asks tokenfed whether token is valid for at least one of
// audiences (none: for its issuer's own audiences), and who it belongs to.
// It returns the answer, or an error that matches exactly one of
// ErrNotAuthenticated, ErrCallerRefused and ErrUnavailable. Neither the
// result nor any error holds the token, and nothing is logged.
//
// The review is bounded by ctx and by the Config's Timeout; 502, 503, 504
// and connection failures are retried within that bound (Config.MaxRetries).
func (c *Client) Review(ctx context.Context, token string, audiences ...string) (*Result, error) {
	resp, err := c.review(ctx, token, audiences)
	if err != nil {
		return nil, err
	}
	return resultOf(resp), nil
}

// AuthenticateToken implements authenticator.Token: the audiences are
// those of authenticator.AudiencesFrom(ctx). A token tokenfed does not
// authenticate is (nil, false, nil); an unavailable tokenfed or a refused
// caller is an error.
func (c *Client) AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	auds, _ := authenticator.AudiencesFrom(ctx)
	resp, err := c.review(ctx, token, auds)
	switch {
	case err == nil:
		r := resultOf(resp)
		return &authenticator.Response{User: r.User, Audiences: r.Audiences}, true, nil
	case errors.Is(err, ErrNotAuthenticated):
		return nil, false, nil
	default:
		return nil, false, err
	}
}

func (c *Client) review(ctx context.Context, token string, auds []string) (*authenticator.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if c.cache != nil {
		return c.cached(ctx, token, auds)
	}
	return c.ask(ctx, token, auds)
}

// resultOf copies resp, which the cache may share with other callers.
func resultOf(resp *authenticator.Response) *Result {
	u := resp.User
	info := &user.DefaultInfo{Name: u.GetName(), UID: u.GetUID(), Groups: slices.Clone(u.GetGroups())}
	if extra := u.GetExtra(); extra != nil {
		info.Extra = make(map[string][]string, len(extra))
		for k, v := range extra {
			info.Extra[k] = slices.Clone(v)
		}
	}
	return &Result{User: info, Audiences: slices.Clone(resp.Audiences)}
}

// ask reviews token, retrying transient failures while the wait before the
// next attempt ends before ctx's deadline.
func (c *Client) ask(ctx context.Context, token string, auds []string) (*authenticator.Response, error) {
	for attempt := 0; ; attempt++ {
		resp, err := c.askOnce(ctx, token, auds)
		var u *UnavailableError
		if !errors.As(err, &u) || !u.retry || attempt >= c.maxRetries {
			return resp, err
		}
		if !c.wait(ctx, retryDelay(u, attempt)) {
			return nil, err
		}
	}
}

// retryDelay is the server's Retry-After, or else a backoff doubling from
// 100ms.
func retryDelay(u *UnavailableError, attempt int) time.Duration {
	if u.RetryAfter > 0 {
		return u.RetryAfter
	}
	return defaultBackoffBase << min(attempt, 10)
}

// wait waits d, unless ctx ends first or would have ended by then: a
// retry that cannot happen is not waited for.
func (c *Client) wait(ctx context.Context, d time.Duration) bool {
	if deadline, ok := ctx.Deadline(); ok && !c.clock.Now().Add(d).Before(deadline) {
		return false
	}
	t := c.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-ctx.Done():
		return false
	}
}

// askOnce posts one TokenReview. MaxRetries(0): client-go would otherwise
// retry an answer with Retry-After up to ten times on its own, a 429
// included, spending more of a caller's rate that is already spent.
func (c *Client) askOnce(ctx context.Context, token string, auds []string) (*authenticator.Response, error) {
	var a answer
	review := &authenticationv1.TokenReview{
		TypeMeta: metaTokenReview,
		Spec:     authenticationv1.TokenReviewSpec{Token: token, Audiences: auds},
	}
	res := c.rest.Post().MaxRetries(0).Body(review).Do(quiet(withAnswer(ctx, &a)))
	if err := res.Error(); err != nil {
		return nil, classify(ctx, err, a, token)
	}
	var out authenticationv1.TokenReview
	if err := res.Into(&out); err != nil {
		return nil, &UnavailableError{Code: a.code, Reason: "undecodable answer"}
	}
	return verdict(a.code, &out.Status, auds, token)
}

// verdict reads an answer's status. Audiences are checked as
// kube-apiserver's webhook client checks them: an answer to a review that
// named audiences is valid for those it has in common with them.
func verdict(code int, st *authenticationv1.TokenReviewStatus, auds []string, token string) (*authenticator.Response, error) {
	if !st.Authenticated {
		return nil, &NotAuthenticatedError{Code: code, Reason: bounded(redact.Scrub(st.Error, token))}
	}
	if quotesToken(&st.User, token) {
		return nil, &UnavailableError{Code: code, Reason: "answer refused: its user quotes the token"}
	}
	got := st.Audiences
	if len(auds) > 0 {
		if got = authenticator.Audiences(auds).Intersect(st.Audiences); len(got) == 0 {
			return nil, &NotAuthenticatedError{Code: code, Reason: "the answer is valid for none of the requested audiences"}
		}
	}
	info := &user.DefaultInfo{Name: st.User.Username, UID: st.User.UID, Groups: st.User.Groups}
	if st.User.Extra != nil {
		info.Extra = make(map[string][]string, len(st.User.Extra))
		for k, v := range st.User.Extra {
			info.Extra[k] = v
		}
	}
	return &authenticator.Response{User: info, Audiences: got}, nil
}

// quotesToken: tokenfed never puts a token in an answer, but this client
// posts to whatever URL it is given, and an application logs the user it
// gets.
func quotesToken(u *authenticationv1.UserInfo, token string) bool {
	quotes := func(s string) bool { return redact.Scrub(s, token) != s }
	if quotes(u.Username) || quotes(u.UID) || slices.ContainsFunc(u.Groups, quotes) {
		return true
	}
	for k, v := range u.Extra {
		if quotes(k) || slices.ContainsFunc(v, quotes) {
			return true
		}
	}
	return false
}

var metaTokenReview = metav1.TypeMeta{APIVersion: authenticationv1.SchemeGroupVersion.String(), Kind: "TokenReview"}
