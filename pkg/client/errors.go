package client

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// The three ways a review fails. Every error Review returns matches exactly
// one of them with errors.Is; errors.As gives the details
// (*NotAuthenticatedError, *CallerRefusedError, *UnavailableError).
var (
	// ErrNotAuthenticated: tokenfed answered, and the token is not valid
	// (for the audiences asked about). It is the answer, not a fault.
	ErrNotAuthenticated = errors.New("token not authenticated")
	// ErrCallerRefused: tokenfed refused this application, not the token:
	// 401 (no valid caller credential), 403 (no grant) or 429 (over its
	// rate). Asking again at once gets the same answer.
	ErrCallerRefused = errors.New("tokenfed refused this caller")
	// ErrUnavailable: tokenfed could not be asked, so nothing is known
	// about the token: unreachable, TLS failure, timeout, 5xx, an answer
	// that is not an authentication.k8s.io/v1 TokenReview, or an
	// authenticated answer that names no user or quotes the token (a
	// broken or hostile server's).
	ErrUnavailable = errors.New("tokenfed is unavailable")
)

// maxReasonBytes bounds the text of tokenfed's answer that an error
// carries: tokenfed's own reasons are a short sentence.
const maxReasonBytes = 512

// NotAuthenticatedError is tokenfed's "not authenticated" answer: HTTP 200
// with status.authenticated false, or HTTP 400 for a review tokenfed would
// not read (no token, a body over its limit), or the client's own for a
// token no tokenfed authenticates (see Client.Review). It matches
// ErrNotAuthenticated.
type NotAuthenticatedError struct {
	// Code is the HTTP status: 200, or 400 (413 and 422 likewise); 0 when
	// the client refused the token without asking.
	Code int
	// Reason is status.error, or the 400's message: tokenfed's words, at
	// most 512 bytes, withheld whole if they could quote the token; or the
	// client's. It may be empty.
	Reason string
}

func (e *NotAuthenticatedError) Error() string {
	if e.Reason == "" {
		return ErrNotAuthenticated.Error()
	}
	return ErrNotAuthenticated.Error() + ": " + e.Reason
}

// Is makes errors.Is(err, ErrNotAuthenticated) true.
func (e *NotAuthenticatedError) Is(target error) bool { return target == ErrNotAuthenticated }

// CallerRefusedError is tokenfed's refusal of this application: 401, 403
// or 429. It matches ErrCallerRefused. It is never retried: a 429 means
// this caller is over its rate, and a retry would only spend more of it.
type CallerRefusedError struct {
	// Code is the HTTP status: 401, 403 or 429.
	Code int
	// RetryAfter is the server's Retry-After, zero when it sent none.
	// tokenfed sends it with 429: the whole seconds until the caller's
	// bucket holds a request again.
	RetryAfter time.Duration
	// Message is the message of tokenfed's metav1.Status, at most 512
	// bytes, withheld whole if it could quote the token, e.g. "this caller
	// is over its rate limit".
	Message string
}

func (e *CallerRefusedError) Error() string {
	msg := ErrCallerRefused.Error() + ": " + httpStatus(e.Code)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return msg
}

// Is makes errors.Is(err, ErrCallerRefused) true.
func (e *CallerRefusedError) Is(target error) bool { return target == ErrCallerRefused }

// UnavailableError says why tokenfed could not be asked. It matches
// ErrUnavailable, and unwraps to its cause when there is one (a
// context error, a *url.Error), so errors.Is(err, context.DeadlineExceeded)
// works.
type UnavailableError struct {
	// Code is the HTTP status of the last answer; 0 when none came.
	Code int
	// RetryAfter is the last answer's Retry-After, zero when it had none.
	// tokenfed sends "Retry-After: 1" with a 503.
	RetryAfter time.Duration
	// Reason says what went wrong, in the client's words plus, for an HTTP
	// answer, the message of tokenfed's metav1.Status or a text body (at
	// most 512 bytes, withheld whole if it could quote the token).
	Reason string

	cause error
	// retry: a 502, 503 or 504, or a connection failure; another attempt
	// may succeed.
	retry bool
}

func (e *UnavailableError) Error() string {
	msg := ErrUnavailable.Error() + ": " + e.Reason
	if e.cause != nil {
		msg += ": " + e.cause.Error()
	}
	return msg
}

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Unwrap returns the cause: a context error, or the transport's error. It
// is nil for HTTP answers, whose text is the server's.
func (e *UnavailableError) Unwrap() error { return e.cause }

func httpStatus(code int) string {
	return strings.TrimSpace(fmt.Sprintf("HTTP %d %s", code, http.StatusText(code)))
}
