package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"
	"k8s.io/utils/clock"

	"github.com/tokenfed/tokenfed/pkg/authn/cache"
	"github.com/tokenfed/tokenfed/pkg/authn/jws"
	"github.com/tokenfed/tokenfed/pkg/authn/route"
)

// Client asks tokenfed about tokens. It is safe for concurrent use: build
// one when the application starts and share it, as it holds the
// connections and the cache.
type Client struct {
	hc         *http.Client
	url        string // where reviews are posted
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

// New builds a Client from cfg. It reads the CA, the client certificate
// and the caller token file once now, so a wrong path fails here rather
// than on the first review. It sends nothing.
func New(cfg Config) (*Client, error) {
	return newWithClock(cfg, clock.RealClock{})
}

func newWithClock(cfg Config, clk clock.Clock) (*Client, error) {
	cfg = cfg.withDefaults()
	rc, tokenFile, err := cfg.restConfig()
	if err != nil {
		return nil, err
	}
	hc, target, err := httpClient(rc, tokenFile)
	if err != nil {
		return nil, err
	}
	c := &Client{hc: hc, url: target, timeout: cfg.Timeout, maxRetries: cfg.MaxRetries, clock: clk}
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

// httpClient is client-go's HTTP client for rc (TLS, the caller's
// credential, proxy, user agent), with the caller's token file (if any)
// re-read as it changes, and the URL reviews are posted to: exactly the
// server URL, or ReviewPath on a URL without a path, as k8s.io/apiserver's
// webhook client does.
func httpClient(rc *rest.Config, tokenFile string) (*http.Client, string, error) {
	rc = rest.CopyConfig(rc)
	target, err := reviewURL(rc)
	if err != nil {
		return nil, "", err
	}
	if rc.UserAgent == "" {
		rc.UserAgent = defaultUserAgent
	}
	// No timeout of its own: the context bounds a review.
	rc.Timeout = 0
	// wire first, so that it is innermost: the transport's wrappers apply
	// in order, and client-go's own (debugging, bearer token, user agent)
	// wrap them all.
	rc.WrapTransport = nil
	rc.Wrap(func(rt http.RoundTripper) http.RoundTripper { return wire{rt} })
	if tokenFile != "" {
		ts := newFileTokenSource(tokenFile)
		if _, err := ts.Token(); err != nil {
			return nil, "", err
		}
		rc.Wrap(transport.TokenSourceWrapTransport(ts))
	}
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return nil, "", err
	}
	// A redirect would send the token to a server nobody configured.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return hc, target, nil
}

// reviewURL is where reviews go: https only, without credentials (the
// transport would send them as basic auth), query or fragment.
func reviewURL(rc *rest.Config) (string, error) {
	base, _, err := rest.DefaultServerUrlFor(rc)
	if err != nil {
		return "", err
	}
	if base.Scheme != "https" {
		return "", fmt.Errorf("server %s: only https is allowed, tokens must not cross the network in the clear", base.Redacted())
	}
	if base.User != nil {
		return "", fmt.Errorf("server %s: a user or password in the URL is refused: this application proves who it is with a client certificate or a token", base.Redacted())
	}
	u := *base
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	if u.Path == "" || u.Path == "/" {
		u.Path, u.RawPath = ReviewPath, ""
	}
	return u.String(), nil
}

// Review asks tokenfed whether token is valid for at least one of
// audiences (none: for its issuer's own audiences), and who it belongs to.
// It returns the answer, or an error that matches exactly one of
// ErrNotAuthenticated, ErrCallerRefused and ErrUnavailable. Neither the
// result nor any error holds the token, and nothing is logged.
//
// The review is bounded by ctx and by the Config's Timeout; 502, 503, 504
// and connection failures are retried within that bound (Config.MaxRetries),
// TLS verification failures are not.
//
// A token that no tokenfed authenticates is refused without asking, as
// ErrNotAuthenticated with Code 0: one that is empty, has whitespace,
// control or non-ASCII bytes inside, or is over 16 KiB.
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
	if err := refuseLocally(token); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if c.cache != nil {
		return c.cached(ctx, token, auds)
	}
	return c.ask(ctx, token, auds)
}

// refuseLocally is tokenfed's "not authenticated" for a token that no
// tokenfed authenticates, given without asking: each review is charged to
// this application's rate at tokenfed, and a client of the application
// chooses what it sends. Only what tokenfed refuses before any lookup is
// refused here (pkg/authn/route, the same code): a token that is empty or
// only whitespace, that has whitespace, control or non-ASCII bytes inside
// (an HTTP header cannot carry them, and kube-apiserver trims and refuses
// the same), or that is over jws.MaxTokenBytes. Nothing that depends on
// the configuration or the clock (an unknown issuer, an exp in the past)
// is judged here.
func refuseLocally(token string) error {
	t, err := route.Canonical(token)
	switch {
	case err != nil:
		// route's errors name the rule, never the token.
		return &NotAuthenticatedError{Reason: err.Error()}
	case len(t) > jws.MaxTokenBytes:
		return &NotAuthenticatedError{Reason: fmt.Sprintf("token is larger than %d bytes", jws.MaxTokenBytes)}
	}
	return nil
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
