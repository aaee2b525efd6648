package upstream

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	authenticationv1 "k8s.io/api/authentication/v1"

	"github.com/tokenfed/tokenfed/pkg/testing/fakeapiserver"
)

// testToken is what every test reviews; no error may ever quote it.
const testToken = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzZWNyZXQtdG9rZW4tZm9yLXRlc3RzIn0.c2lnbmF0dXJlLXNlY3JldA"

// newTestClient builds a Client for srv; zero Timeout gets 30s. Tests of
// timeouts set their own; the others must not time out on a loaded CI
// machine, where the megabyte reviews of the bounds tests under -race took
// longer than 5s.
func newTestClient(t testing.TB, srv *fakeapiserver.Server, opts Options) (*Client, *Metrics) {
	t.Helper()
	opts.IssuerName = "hub"
	opts.Config = srv.RESTConfig()
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	opts.Metrics = NewMetrics(prometheus.NewRegistry())
	c, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, opts.Metrics
}

var answerAuthenticated = fakeapiserver.Answer(authenticationv1.TokenReviewStatus{
	Authenticated: true,
	User:          authenticationv1.UserInfo{Username: "system:serviceaccount:ns:sa", UID: "sa-uid"},
})

// answerQuoting answers code with a body of contentType that quotes the
// review's token, as a hostile cluster or a confused proxy might, and a
// warning that quotes it too.
func answerQuoting(code int, contentType, format string) fakeapiserver.AnswerFunc {
	return func(w http.ResponseWriter, _ *http.Request, review *authenticationv1.TokenReview) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Warning", `299 - "`+review.Spec.Token+`"`)
		w.WriteHeader(code)
		_, _ = fmt.Fprintf(w, format, review.Spec.Token)
	}
}

// checkNoToken fails if err quotes the reviewed token or any part of it.
func checkNoToken(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, part := range append(strings.Split(testToken, "."), testToken) {
		if strings.Contains(err.Error(), part) {
			t.Errorf("got error %q, want it not to contain the token", err)
		}
	}
}
