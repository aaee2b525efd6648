package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	jsonserializer "k8s.io/apimachinery/pkg/runtime/serializer/json"

	"github.com/tokenfed/tokenfed/pkg/redact"
)

const (
	// maxRetryAfter bounds a server's Retry-After; tokenfed's own is at
	// most an hour.
	maxRetryAfter = time.Hour
	// maxAnswerBytes bounds the answer read: tokenfed's largest (a user
	// with its upstream's thousand groups) is some tens of KiB.
	maxAnswerBytes = 4 << 20
	// maxScrubbedBytes is as much of the server's text as is checked for
	// the token: what an error keeps (maxReasonBytes) and then some.
	maxScrubbedBytes = 4 << 10
)

// withheld replaces text of the server's that could quote the token.
const withheld = "the server's text was withheld: it could quote the token"

// answer is what the client saw of one HTTP answer, before anything else
// could: its status, and the two headers it reads.
type answer struct {
	code       int
	retryAfter time.Duration
	mediaType  string
}

type answerKey struct{}

// withAnswer returns a context in which the one HTTP answer to the
// request made with it is noted in a.
func withAnswer(ctx context.Context, a *answer) context.Context {
	return context.WithValue(ctx, answerKey{}, a)
}

// wire is the innermost round tripper, next to the connection. It notes
// each answer's status, Retry-After and media type in the request
// context's *answer, and hands on the answer with a status line of the
// client's words and no headers: nothing the server wrote but the body
// goes past it, and the body only to askOnce. Above it, client-go's
// debugging round tripper (built in when klog is at -v=6 or more) logs
// the status and headers of each answer with klog.FromContext, which is
// klog's global logger whenever contextual logging is off, whatever
// logger the request carries.
type wire struct{ next http.RoundTripper }

func (w wire) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := w.next.RoundTrip(req)
	if err != nil || resp == nil {
		return resp, err
	}
	if a, ok := req.Context().Value(answerKey{}).(*answer); ok {
		a.code = resp.StatusCode
		a.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		a.mediaType = mediaType(resp.Header.Get("Content-Type"))
	}
	resp.Status = strings.TrimSpace(strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode))
	resp.Header, resp.Trailer = http.Header{}, nil
	return resp, nil
}

// mediaType is the media type of a Content-Type, lower case without
// parameters, or "" when there is none or it does not parse.
func mediaType(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	return mt
}

// parseRetryAfter reads delay-seconds or an HTTP date (RFC 9110 10.2.3),
// capped at maxRetryAfter before it becomes a Duration, so that no value
// overflows; anything else, or a time in the past, is zero.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if isDigits(v) {
		// More digits than an hour's seconds have is over the cap, and
		// ParseInt fails only on overflow here.
		s, err := strconv.ParseInt(v, 10, 64)
		if err != nil || s > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(s) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	// Sub saturates instead of overflowing.
	return min(max(t.Sub(now), 0), maxRetryAfter)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// quiet gives the request a logger that discards everything, so that
// client-go's debugging round tripper logs nothing of a review at any
// verbosity while klog's contextual logging is on (its default). With it
// off, that round tripper logs the URL, the status and the timing of a
// review: the body, which holds the token, is never client-go's to log
// (see askOnce), and wire keeps the server's status text and headers away.
func quiet(ctx context.Context) context.Context {
	return logr.NewContext(ctx, logr.Discard())
}

// noAnswer classifies a failure before any HTTP answer. The cause is kept
// (transport errors name the URL and the network or TLS failure, never a
// body) unless its text quotes the token: a certificate's names are the
// server's words.
func noAnswer(ctx context.Context, err error, token string) error {
	var tf *tokenFileError
	switch {
	case ended(ctx) != nil:
		return &UnavailableError{Reason: "no answer", cause: ended(ctx)}
	case errors.As(err, &tf):
		return &UnavailableError{Reason: "caller credential", cause: tf}
	case redact.Quotes(err.Error(), token):
		return &UnavailableError{Reason: "no answer", cause: errors.New(withheld)}
	case refusedCertificate(err):
		return &CallerRefusedError{Message: "tokenfed refused this caller's client certificate in the TLS handshake: it must chain to tokenfed's client CA (server.clientCAFile), be within its validity and allow client auth"}
	case permanentTLS(err):
		return &UnavailableError{Reason: "TLS", cause: err}
	default:
		return &UnavailableError{Reason: "no answer", cause: err, retry: true}
	}
}

// ended is ctx's error, or DeadlineExceeded once its deadline has passed:
// the dialer sets ctx's deadline on the connection, whose timeout (an "i/o
// timeout" during the TLS handshake) can fire a moment before ctx's own
// timer does.
func ended(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if deadline, ok := ctx.Deadline(); ok && !time.Now().Before(deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// refusedCertificate: the server refused the client certificate with a TLS
// alert (RFC 8446 section 6.2): the caller's credential, not an outage, and
// another attempt meets the same refusal. crypto/tls reports an alert it
// received as a *net.OpError "remote error" whose error is its unexported
// alert type, so the alert is told by its text.
func refusedCertificate(err error) bool {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "remote error" || op.Err == nil {
		return false
	}
	return certificateAlerts[op.Err.Error()]
}

// certificateAlerts are crypto/tls's texts of the alerts that refuse a
// client certificate.
var certificateAlerts = map[string]bool{
	"tls: bad certificate":               true,
	"tls: unsupported certificate":       true,
	"tls: revoked certificate":           true,
	"tls: expired certificate":           true,
	"tls: unknown certificate":           true,
	"tls: unknown certificate authority": true,
	"tls: access denied":                 true,
	"tls: certificate required":          true,
}

// permanentTLS: a server whose certificate does not verify (unknown
// authority, wrong name, expired) or that does not speak TLS at all.
// Another attempt meets the same server.
func permanentTLS(err error) bool {
	var (
		verify    *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		record    tls.RecordHeaderError
	)
	return errors.As(err, &verify) || errors.As(err, &authority) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &record)
}

// refusal classifies an HTTP answer other than 200 or 201 into one of the
// three errors.
func refusal(a answer, body []byte, token string) error {
	msg := serverText(statusMessage(a.mediaType, body), token)
	switch {
	case refusesReview(a.code):
		return &NotAuthenticatedError{Code: a.code, Reason: msg}
	case a.code == http.StatusUnauthorized, a.code == http.StatusForbidden, a.code == http.StatusTooManyRequests:
		return &CallerRefusedError{Code: a.code, RetryAfter: a.retryAfter, Message: msg}
	default:
		reason := httpStatus(a.code)
		if msg != "" {
			reason += ": " + msg
		}
		return &UnavailableError{Code: a.code, RetryAfter: a.retryAfter, Reason: reason, retry: transient(a.code)}
	}
}

// statusMessage is the message of a metav1.Status body (kube-apiserver's
// and tokenfed's refusals; a missing apiVersion is v1, as client-go reads
// it), or a text body itself (a proxy's, a plain-text 500), or "".
func statusMessage(mt string, body []byte) string {
	if gvk, err := jsonserializer.DefaultMetaFactory.Interpret(body); err == nil && gvk.Kind == "Status" && gvk.Group == "" && (gvk.Version == "v1" || gvk.Version == "") {
		var st metav1.Status
		v1Status := metav1.SchemeGroupVersion.WithKind("Status")
		if _, _, err := codecs.UniversalDeserializer().Decode(body, &v1Status, &st); err == nil {
			return st.Message
		}
		return ""
	}
	if mt == "" || strings.HasPrefix(mt, "text/") {
		return strings.TrimSpace(string(body))
	}
	return ""
}

// serverText is text the server wrote, as an error carries it: withheld
// whole when it could quote the token (redact.Scrub, which also withholds
// all of it for a token under redact.MinToken bytes), and cut at
// maxReasonBytes. Only its first maxScrubbedBytes are looked at; the rest
// is cut anyway.
func serverText(s, token string) string {
	if len(s) > maxScrubbedBytes {
		s = s[:maxScrubbedBytes]
	}
	if redact.Scrub(s, token) != s {
		return withheld
	}
	return bounded(s)
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

func bounded(s string) string {
	if len(s) <= maxReasonBytes {
		return s
	}
	return strings.ToValidUTF8(s[:maxReasonBytes], "") + "..."
}
