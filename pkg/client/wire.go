package client

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/klog/v2"

	"github.com/tokenfed/tokenfed/pkg/redact"
)

// maxRetryAfter bounds a server's Retry-After; tokenfed's own is at most
// an hour.
const maxRetryAfter = time.Hour

// answer is what the client saw of one HTTP answer itself. client-go's
// errors hide the status line (a plain-text 500 comes back without one)
// or replace it with the code a Status body claims, and drop headers.
type answer struct {
	code       int
	retryAfter time.Duration
}

type answerKey struct{}

// withAnswer returns a context in which the one HTTP answer to the
// request made with it is noted in a.
func withAnswer(ctx context.Context, a *answer) context.Context {
	return context.WithValue(ctx, answerKey{}, a)
}

// answerRecorder notes each answer's status and Retry-After in the
// request context's *answer.
type answerRecorder struct{ next http.RoundTripper }

func (r answerRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if a, ok := req.Context().Value(answerKey{}).(*answer); ok && resp != nil {
		a.code = resp.StatusCode
		a.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return resp, err
}

// parseRetryAfter reads delay-seconds or an HTTP date (RFC 9110 10.2.3);
// anything else, or a time in the past, is zero.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if s, err := strconv.Atoi(v); err == nil {
		d = time.Duration(s) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// quiet gives client-go a logger that discards everything. At -v=6 and
// above client-go logs each request from the context's logger, at -v=8
// with the request body: spec.token. No verbosity an application picks may
// write a token, so a review logs nothing; the application logs the
// outcome if it wants to. It works only while klog's contextual logging is
// on, which New checks (as pkg/authn/upstream does).
func quiet(ctx context.Context) context.Context {
	return logr.NewContext(ctx, logr.Discard())
}

// contextualLogging reports whether klog.FromContext, which client-go
// uses, honours the logger in the context.
func contextualLogging() bool {
	return klog.FromContext(quiet(context.Background())).GetSink() == nil
}

// classify turns client-go's error for one attempt into one of the three
// errors. a is the HTTP answer as seen on the wire (code 0: none came).
func classify(ctx context.Context, err error, a answer, token string) error {
	switch {
	case a.code == 0:
		return noAnswer(ctx, err)
	case a.code >= 200 && a.code < 300:
		return &UnavailableError{Code: a.code, Reason: "undecodable answer"}
	case refusesReview(a.code):
		return &NotAuthenticatedError{Code: a.code, Reason: message(err, token)}
	case a.code == http.StatusUnauthorized, a.code == http.StatusForbidden, a.code == http.StatusTooManyRequests:
		return &CallerRefusedError{Code: a.code, RetryAfter: a.retryAfter, Message: message(err, token)}
	default:
		reason := httpStatus(a.code)
		if m := message(err, token); m != "" {
			reason += ": " + m
		}
		return &UnavailableError{Code: a.code, RetryAfter: a.retryAfter, Reason: reason, retry: transient(a.code)}
	}
}

// noAnswer classifies a failure before any HTTP answer. The cause is kept:
// transport errors name the URL and the network or TLS failure, never a
// body.
func noAnswer(ctx context.Context, err error) error {
	var tf *tokenFileError
	switch {
	case ctx.Err() != nil:
		return &UnavailableError{Reason: "no answer", cause: ctx.Err()}
	case errors.As(err, &tf):
		return &UnavailableError{Reason: "caller credential", cause: tf}
	default:
		return &UnavailableError{Reason: "no answer", cause: err, retry: true}
	}
}

// refusesReview: a 400 is tokenfed refusing to read the review (no token,
// bad JSON, a body over its limit); 413 and 422 say the same in other
// servers' words. The review cannot succeed as sent.
func refusesReview(code int) bool {
	return code == http.StatusBadRequest || code == http.StatusRequestEntityTooLarge || code == http.StatusUnprocessableEntity
}

// transient: answers of a server or proxy that is restarting or
// overloaded, which another attempt may get past. A 500 is a bug, and
// other codes say the URL is wrong.
func transient(code int) bool {
	return code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

// message is the message of the metav1.Status that came with an error
// answer, scrubbed of the token (tokenfed never quotes it; this client
// talks to whatever URL it is given) and bounded.
func message(err error, token string) string {
	var s apierrors.APIStatus
	if !errors.As(err, &s) {
		return ""
	}
	return bounded(redact.Scrub(s.Status().Message, token))
}

func bounded(s string) string {
	if len(s) <= maxReasonBytes {
		return s
	}
	return strings.ToValidUTF8(s[:maxReasonBytes], "") + "..."
}
