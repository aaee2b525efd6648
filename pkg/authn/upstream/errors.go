package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// callError is a failed call to the cluster, described only by what
// tokenfed observed itself: the HTTP status code, a timeout, a connection or
// TLS failure, an answer it could not decode. Never in the cluster's words:
// the message reaches status.error, the 503 body and the logs, and a cluster
// (or a proxy before it) controls its own words, which may quote the token
// or the body of our request. client-go's own error text quotes bodies too
// ("an error on the server (\"...\")", "Object 'Kind' is missing in '...'").
type callError struct {
	what string
	// code is the HTTP status on the wire; 0 when no answer came, or when
	// a well-formed answer was refused for what it says. It is never taken
	// from a Status body, which the cluster writes as it likes.
	code int
	// fault says the cluster, not our request, is at fault: the breaker
	// counts only these.
	fault bool
	// rejects says the call settled the token: it is rejected, and the
	// rejection cached, as when the cluster answers authenticated=false.
	rejects bool
	// retryAfter is the cluster's Retry-After hint; it only sets how long
	// the breaker stays open, bounded by MaxOpen.
	retryAfter time.Duration
	// credential says the cluster refused tokenfed's own credential (401,
	// 403): answered with ErrCredentialRefused, and remembered (refusals).
	credential bool
}

func (e *callError) Error() string { return e.what }

// errUndecodable is an answer that is not a TokenReview, or could not be
// read to the end.
func errUndecodable(code int) *callError {
	return &callError{what: "undecodable answer", code: code, fault: true}
}

// refusal is a well-formed answer that tokenfed will not use: its user is
// beyond the bounds or quotes the token. It rejects the token rather than
// being unavailable. The cluster did answer, so the answer is the
// cluster's verdict, not an outage; and a cached rejection costs one call
// per failure TTL, where an uncached 503 would cost one per review. And it is not counted against
// the cluster by the breaker: a user who can shape their own claims could
// otherwise make answers about their own token open the circuit for every
// token of the issuer.
func refusal(what string) *callError {
	return &callError{what: what, rejects: true}
}

// classify turns client-go's error for a call whose answer had HTTP status
// code (0 when no answer came) into a callError, dropping all of its text.
func classify(err error, code int) *callError {
	switch {
	case code == 0:
		return &callError{what: transportFailure(err), fault: true}
	case code >= 200 && code < 300 && errors.Is(err, errAnswerTooLarge):
		return &callError{what: errAnswerTooLarge.Error(), code: code, rejects: true}
	case code >= 200 && code < 300:
		// A success status whose body client-go could not read or decode.
		return errUndecodable(code)
	default:
		return &callError{
			what:       strings.TrimSpace(fmt.Sprintf("HTTP %d %s", code, http.StatusText(code))),
			code:       code,
			fault:      code == http.StatusTooManyRequests || code >= 500,
			rejects:    refusesReview(code),
			retryAfter: retryAfter(err),
			credential: isCredentialRefusal(code),
		}
	}
}

// refusesReview reports whether an HTTP status is the cluster's verdict on
// the review itself, that is on what the caller sent: its token and
// audiences. A 400, 413 or 422 says the review cannot be valid, and a
// caller who provokes one (kube-apiserver answers 413 above 3 MiB) must get
// authenticated=false, never a 503 that reports a fault of tokenfed's.
// The other 4xx say nothing about the token: 401 and 403 refuse tokenfed's
// own credential (ErrCredentialRefused); 404, 405, 406,
// 415 and 421 say the configured server does not serve TokenReview as
// tokenfed sends it, a fault of tokenfed's configuration that a 5xx
// rightly reports; 408 and 429 are load.
func refusesReview(code int) bool {
	switch code {
	case http.StatusUnauthorized, http.StatusForbidden,
		http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotAcceptable,
		http.StatusUnsupportedMediaType, http.StatusMisdirectedRequest,
		http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return code >= 400 && code < 500
}

// transportFailure names why no answer came.
func transportFailure(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case isTLSFailure(err):
		return "TLS failure"
	default:
		return "connection failure"
	}
}

func isTLSFailure(err error) bool {
	var (
		verify    *tls.CertificateVerificationError
		record    tls.RecordHeaderError
		alert     tls.AlertError
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	return errors.As(err, &verify) || errors.As(err, &record) || errors.As(err, &alert) ||
		errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid)
}

// retryAfter is the server's Retry-After hint, if it gave one.
func retryAfter(err error) time.Duration {
	if s, ok := apierrors.SuggestsClientDelay(err); ok {
		return time.Duration(s) * time.Second
	}
	return 0
}

// failed is what callers see of a failed call: ErrRejected,
// ErrCredentialRefused or ErrUnavailable, and the category, nothing else.
func failed(err error) error {
	var ce *callError
	switch {
	case !errors.As(err, &ce):
		// Not reached: Review only fails with callErrors. Should that
		// change, an unknown error still says nothing foreign.
		return ErrUnavailable
	case ce.rejects:
		return fmt.Errorf("%w: %s", ErrRejected, ce.what)
	case ce.credential:
		return fmt.Errorf("%w: %s", ErrCredentialRefused, ce.what)
	default:
		return fmt.Errorf("%w: %s", ErrUnavailable, ce.what)
	}
}
