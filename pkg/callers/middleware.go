package callers

import (
	"context"
	"math"
	"net/http"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/request/anonymous"
	"k8s.io/apiserver/pkg/authentication/request/union"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/rest"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
)

// Gate authenticates callers and applies their policy. It is built once
// from the configuration.
type Gate struct {
	auth    authenticator.Request
	decider decider
	router  IssuerRouter
	metrics *Metrics
	audit   *audit
}

// GateOptions configure a Gate.
type GateOptions struct {
	// ClientCA returns the current client-CA verify options (none: no
	// certificate callers).
	ClientCA VerifyOptionsFunc
	// Tokens enables caller tokens; nil disables them.
	Tokens *TokenOptions
	// AllowAnonymous admits callers without a credential as
	// system:anonymous (group system:unauthenticated).
	AllowAnonymous bool
	// Authorization is the configured mode and its policies.
	Authorization v1alpha1.CallerAuthorization
	// Delegated reaches the cluster that decides in Delegated mode.
	Delegated *rest.Config
	// Router names a token's issuer for per-issuer checks.
	Router  IssuerRouter
	Metrics *Metrics
}

// NewGate builds the caller authenticator and authorizer.
func NewGate(o GateOptions) (*Gate, error) {
	g := &Gate{auth: NewAuthenticator(o.ClientCA, o.Tokens), router: o.Router, metrics: o.Metrics, audit: newAudit()}
	if o.AllowAnonymous {
		g.auth = union.New(g.auth, anonymous.NewAuthenticator(nil))
	}
	if o.Authorization.Mode != v1alpha1.CallerAuthorizationDelegated {
		g.decider = newStatic(o.Authorization.Static, o.Metrics)
		return g, nil
	}
	d, err := newDelegated(o.Authorization.Delegated, o.Delegated, o.Metrics)
	g.decider = d
	return g, err
}

type callerKey struct{}

// caller is an admitted caller, as the review handler's guard sees it.
type caller struct {
	user user.Info
	adm  *Admission
}

func withCaller(ctx context.Context, c *caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

func callerFrom(ctx context.Context) *caller {
	c, _ := ctx.Value(callerKey{}).(*caller)
	return c
}

// Reviews wraps the review endpoints: 401 for a caller that cannot be
// authenticated, 403 for one with no grant to review anything, 429 with
// Retry-After for one over its rate. Admitted callers go on to next, which
// asks the Guard about each review's issuer and audiences.
func (g *Gate) Reviews(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := g.authenticate(w, r)
		if !ok {
			return
		}
		adm, ok, err := g.decider.admit(r.Context(), u)
		switch {
		case err != nil:
			g.refuse(w, r, u, "", http.StatusInternalServerError, "caller authorization failed")
			return
		case !ok:
			g.refuse(w, r, u, "", http.StatusForbidden, "this caller may not review tokens")
			return
		}
		if adm.Limiter != nil && !allowNow(w, adm) {
			adm.counts.throttled.Inc()
			g.audit.refused(r.Context(), u, adm.Policy, OutcomeThrottled)
			writeStatus(w, http.StatusTooManyRequests, metav1.StatusReasonTooManyRequests, "this caller is over its rate limit")
			return
		}
		next.ServeHTTP(w, r.WithContext(withCaller(r.Context(), &caller{user: u, adm: adm})))
	})
}

// Endpoint wraps a privileged endpoint (/metrics, /debug/pprof): only
// callers granted path get through.
func (g *Gate) Endpoint(path string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.MayRead(w, r, path) {
			next.ServeHTTP(w, r)
		}
	})
}

// MayRead reports whether the caller of r may read path; when not, it has
// written the 401 or 403.
func (g *Gate) MayRead(w http.ResponseWriter, r *http.Request, path string) bool {
	u, ok := g.authenticate(w, r)
	if !ok {
		return false
	}
	allowed, err := g.decider.endpoint(r.Context(), u, path)
	if err != nil || !allowed {
		g.refuse(w, r, u, "", http.StatusForbidden, "this caller may not read "+path)
		return false
	}
	return true
}

// MayReadQuietly is MayRead without an answer: for /readyz, whose details
// are privileged but whose status is for everyone.
func (g *Gate) MayReadQuietly(r *http.Request, path string) bool {
	resp, ok, err := g.auth.AuthenticateRequest(r)
	if err != nil || !ok {
		return false
	}
	allowed, err := g.decider.endpoint(r.Context(), resp.User, path)
	return err == nil && allowed
}

func (g *Gate) authenticate(w http.ResponseWriter, r *http.Request) (user.Info, bool) {
	resp, ok, err := g.auth.AuthenticateRequest(r)
	if err != nil || !ok {
		g.metrics.decision(policyNone, OutcomeUnauthenticated)
		g.audit.unauthenticated(r.Context(), r.URL.Path)
		writeStatus(w, http.StatusUnauthorized, metav1.StatusReasonUnauthorized, unauthenticatedMessage(r))
		return nil, false
	}
	return resp.User, true
}

// unauthenticatedMessage says which credential failed, so a caller that
// sent one is not told to send one. It names no configuration value: the
// request is not authenticated.
func unauthenticatedMessage(r *http.Request) string {
	switch {
	case r.Header.Get("Authorization") != "":
		return "the bearer token is not accepted as a caller credential: it must be a valid, unexpired token of an issuer in callers.tokens.issuers, minted for one of callers.tokens.audiences"
	case r.TLS != nil && len(r.TLS.PeerCertificates) > 0:
		return "the client certificate is not accepted: it must chain to server.clientCAFile, be within its validity, and name a user (CN)"
	}
	return "a client certificate or a bearer token minted for tokenfed is required"
}

func (g *Gate) refuse(w http.ResponseWriter, r *http.Request, u user.Info, policy string, code int, msg string) {
	outcome := OutcomeForbidden
	g.metrics.decision(orNone(policy), outcome)
	g.audit.refused(r.Context(), u, orNone(policy), outcome)
	reason := metav1.StatusReasonForbidden
	if code == http.StatusInternalServerError {
		reason = metav1.StatusReasonInternalError
	}
	writeStatus(w, code, reason, msg)
}

// allowNow takes a token from the caller's bucket, or sets Retry-After to
// the whole seconds until one is available.
func allowNow(w http.ResponseWriter, adm *Admission) bool {
	res := adm.Limiter.Reserve()
	delay := res.Delay()
	if delay == 0 {
		return true
	}
	res.Cancel()
	if math.IsInf(delay.Seconds(), 0) || delay.Seconds() > 3600 {
		delay = 3600e9
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(delay.Seconds()))))
	return false
}

// policyNone labels decisions made before a policy was found.
const policyNone = "none"

func orNone(policy string) string {
	if policy == "" {
		return policyNone
	}
	return policy
}

func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	body, _ := json.Marshal(&metav1.Status{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
		Status:   metav1.StatusFailure, Code: int32(code), Reason: reason, Message: msg,
	})
	_, _ = w.Write(body)
}
