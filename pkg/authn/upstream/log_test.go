package upstream

import (
	"context"
	"net/http"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/klog/v2"

	"github.com/tokenfed/tokenfed/pkg/testing/fakeapiserver"
	"github.com/tokenfed/tokenfed/pkg/testing/klogtest"
)

// leakyAnswers are the answers that make client-go log the token unless
// its logger is silenced: kube-apiserver's own (it echoes spec.token), a
// warning quoting it, and error bodies quoting it.
var leakyAnswers = map[string]fakeapiserver.AnswerFunc{
	"kube-apiserver echoing spec.token": fakeapiserver.Answer(authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "u"}}),
	"500 quoting the token":             answerQuoting(http.StatusInternalServerError, "text/plain", "cannot review %s"),
	"Status quoting the token":          answerQuoting(http.StatusServiceUnavailable, "application/json", `{"kind":"Status","apiVersion":"v1","status":"Failure","code":503,"message":"%s"}`),
	"undecodable answer quoting it":     answerQuoting(http.StatusCreated, "application/json", `{"apiVersion":"v1","kind":%q}`),
}

// TestReviewLogsNoTokenAtV10: at the highest verbosity, nothing client-go
// logs for an upstream review contains the token, whatever the cluster
// answers.
func TestReviewLogsNoTokenAtV10(t *testing.T) {
	for name, answer := range leakyAnswers {
		t.Run(name, func(t *testing.T) {
			logs := klogtest.AtV10(t)
			srv := fakeapiserver.Start(t, answer)
			c, _ := newTestClient(t, srv, Options{})

			_, err := c.Review(context.Background(), testToken, nil)

			checkNoToken(t, err)
			if out := logs.String(); containsTokenPart(out) {
				t.Errorf("got a log that quotes the token:\n%s", out)
			}
		})
	}
}

// TestClientGoLogsTokenAtV10WithoutQuiet is the control for the test
// above: the same call without quiet's context does log the token, so the
// capture works and quiet is what keeps the log clean.
func TestClientGoLogsTokenAtV10WithoutQuiet(t *testing.T) {
	logs := klogtest.AtV10(t)
	srv := fakeapiserver.Start(t, leakyAnswers["kube-apiserver echoing spec.token"])
	c, _ := newTestClient(t, srv, Options{})
	req := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: testToken}}

	err := c.rest.Post().Resource("tokenreviews").Body(req).Do(context.Background()).Error()

	if err != nil {
		t.Fatal(err)
	}
	if out := logs.String(); !containsTokenPart(out) {
		t.Errorf("got no token in client-go's own log at -v=10, want it there (else the test above proves nothing):\n%s", out)
	}
}

// TestNewRefusesWithoutContextualLogging: quiet depends on it, so a client
// is never built without it.
func TestNewRefusesWithoutContextualLogging(t *testing.T) {
	klog.EnableContextualLogging(false)
	defer klog.EnableContextualLogging(true)
	srv := fakeapiserver.Start(t, answerAuthenticated)

	_, err := New(Options{IssuerName: "hub", Config: srv.RESTConfig()})

	if err == nil || !strings.Contains(err.Error(), "contextual logging is disabled") {
		t.Fatalf("got %v, want an error saying contextual logging is disabled", err)
	}
}

func containsTokenPart(s string) bool {
	for _, part := range strings.Split(testToken, ".") {
		if strings.Contains(s, part) {
			return true
		}
	}
	return false
}
