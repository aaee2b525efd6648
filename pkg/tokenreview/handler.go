package tokenreview

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/klog/v2"

	"github.com/tokenfed/tokenfed/pkg/authn"
	"github.com/tokenfed/tokenfed/pkg/callers"
	"github.com/tokenfed/tokenfed/pkg/redact"
)

// Log levels. Neither line can hold the token: see redact.Scrub, and a response
// carries status only.
const (
	// logLevelRequest logs one line per review.
	logLevelRequest = 2
	// logLevelResponseBody logs every response body as written, so a test
	// at -v=10 can scan every answer to every client for tokens.
	logLevelResponseBody = 10
)

// Handler serves TokenReview requests.
type Handler struct {
	auth       authenticator.Token
	guard      Guard
	maxBody    int64
	urlVersion string // "" lets the body decide
	metrics    *Metrics
}

var _ http.Handler = &Handler{}

// Guard decides, before any verification, whether the caller may ask
// about a token for some audiences; *callers.Gate implements it. Errors
// wrapping callers.ErrAuthorizationUnavailable are answered 503; any other
// error is the authenticated: false answer's reason. When it decided on an
// authenticated answer the chain had cached, it returns that answer, and
// the review is answered with it rather than looked up again.
type Guard interface {
	Check(ctx context.Context, token string, audiences []string) (*authenticator.Response, error)
}

// NewHandler returns a handler for one endpoint. urlVersion is V1 or
// V1beta1 for the apiserver-style paths, "" for /authenticate. guard may
// be nil: every caller may ask about everything.
func NewHandler(auth authenticator.Token, guard Guard, maxBody int64, urlVersion string, m *Metrics) *Handler {
	return &Handler{auth: auth, guard: guard, maxBody: maxBody, urlVersion: urlVersion, metrics: m}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &record{apiVersion: h.urlVersion}
	defer func() { h.metrics.observe(rec, time.Since(start)) }()

	logger := klog.FromContext(r.Context())
	rv, errResp := h.readReview(w, r)
	if errResp != nil {
		rec.code, rec.outcome = int(errResp.Code), "malformed"
		writeJSON(logger, w, int(errResp.Code), errResp)
		return
	}
	rec.apiVersion = rv.apiVersion
	o := h.authenticate(r, rv)
	if o.unavailable {
		// No Retry-After: client-go, inside kube-apiserver's webhook
		// client, retries every 5xx carrying one up to ten times on top of
		// the webhook's own five backoff retries, and a member's user
		// request would hang through all of them.
		rec.code, rec.outcome = http.StatusServiceUnavailable, "unavailable"
		writeJSON(logger, w, http.StatusServiceUnavailable, errorStatus(http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable, o.errMsg))
		return
	}
	rec.code, rec.outcome = http.StatusOK, outcomeLabel(o)
	if logger := logger.V(logLevelRequest); logger.Enabled() {
		logger.Info("review", "apiVersion", rv.apiVersion, "authenticated", o.authenticated, "user", userName(o), "error", o.errMsg)
	}
	writeJSON(logger, w, http.StatusOK, encodeResponse(rv.apiVersion, o))
}

// readReview checks method, content type and size, then decodes.
func (h *Handler) readReview(w http.ResponseWriter, r *http.Request) (*review, *metav1.Status) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, errorStatus(http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed, "only POST is allowed")
	}
	mediaType, ok := supportedMediaType(r.Header.Get("Content-Type"))
	if !ok {
		return nil, errorStatus(http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType, "Content-Type must be application/json or application/vnd.kubernetes.protobuf")
	}
	body, err := readBody(w, r, h.maxBody)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, errorStatus(http.StatusBadRequest, metav1.StatusReasonBadRequest, "request body is larger than the limit")
	}
	if err != nil {
		return nil, errorStatus(http.StatusBadRequest, metav1.StatusReasonBadRequest, "reading request body")
	}
	rv, err := decodeReview(body, mediaType, h.urlVersion)
	if err != nil {
		return nil, errorStatus(http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
	}
	return rv, nil
}

func (h *Handler) authenticate(r *http.Request, rv *review) outcome {
	ctx := r.Context()
	if h.guard != nil {
		if o, answered := h.guarded(ctx, rv); answered {
			return o
		}
	}
	if len(rv.audiences) > 0 {
		ctx = authenticator.WithAudiences(ctx, rv.audiences)
	}
	resp, ok, err := h.auth.AuthenticateToken(ctx, rv.token)
	switch {
	case errors.Is(err, authn.ErrUnavailable):
		return outcome{errMsg: redact.Scrub(err.Error(), rv.token), unavailable: true}
	case err != nil:
		return outcome{errMsg: redact.Scrub(err.Error(), rv.token)}
	case !ok || resp == nil:
		return outcome{errMsg: "token not recognized"}
	default:
		return outcome{resp: resp, authenticated: true}
	}
}

// guarded asks the guard before any verification. A refusal is an answer
// about the caller, never about the token; an answer the guard found
// cached is the review's answer.
func (h *Handler) guarded(ctx context.Context, rv *review) (outcome, bool) {
	resp, err := h.guard.Check(ctx, rv.token, rv.audiences)
	switch {
	case err == nil && resp != nil:
		return outcome{resp: resp, authenticated: true}, true
	case err == nil:
		return outcome{}, false
	case errors.Is(err, callers.ErrAuthorizationUnavailable):
		return outcome{errMsg: callers.ErrAuthorizationUnavailable.Error(), unavailable: true}, true
	}
	return outcome{errMsg: err.Error()}, true
}

func outcomeLabel(o outcome) string {
	if o.authenticated {
		return "authenticated"
	}
	return "unauthenticated"
}

func userName(o outcome) string {
	if o.resp == nil {
		return ""
	}
	return o.resp.User.GetName()
}

// writeJSON writes v, and logs it at logLevelResponseBody.
func writeJSON(logger klog.Logger, w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only static types are encoded here: a bug, not a client's fault.
		logger.Error(err, "Encoding response")
		code, body = http.StatusInternalServerError, []byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","code":500}`)
	}
	if logger := logger.V(logLevelResponseBody); logger.Enabled() {
		logger.Info("Response", "code", code, "body", string(body))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	// A write error means the client went away; there is no one to tell.
	_, _ = w.Write(append(body, '\n'))
}

// readBody reads at most limit bytes, in one allocation when the client
// announced the length (kube-apiserver and client-go do).
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, limit)
	if n := r.ContentLength; n > 0 && n <= limit {
		buf := make([]byte, n)
		if _, err := io.ReadFull(body, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	return io.ReadAll(body)
}
