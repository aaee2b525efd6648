package tokenreview

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"

	"github.com/tokenfed/tokenfed/pkg/authn"
	"github.com/tokenfed/tokenfed/pkg/redact"
)

// testToken is the token every handler test reviews.
const testToken = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci50ZXN0Iiwic3ViIjoic2EifQ.c2lnbmF0dXJlLW9mLXRoZS1oYW5kbGVyLXRlc3QtdG9rZW4"

var handlerCases = []struct {
	name     string
	err      error
	ok       bool
	wantCode int
	// wantInBody must appear in the response body and its V(10) log line.
	wantInBody string
}{
	{name: "authenticated", ok: true, wantCode: http.StatusOK, wantInBody: `"authenticated":true`},
	{name: "an ordinary reason passes", err: errors.New("token issuer is not trusted"), wantCode: http.StatusOK, wantInBody: "token issuer is not trusted"},
	{name: "a reason quoting the token is withheld", err: fmt.Errorf("oidc: bad token %q", testToken), wantCode: http.StatusOK, wantInBody: redact.Withheld},
	{name: "a reason quoting the signature is withheld", err: errors.New("bad signature " + signature()), wantCode: http.StatusOK, wantInBody: redact.Withheld},
	{name: "an unavailable reason quoting the token is withheld", err: fmt.Errorf("%w: %s", authn.ErrUnavailable, testToken), wantCode: http.StatusServiceUnavailable, wantInBody: redact.Withheld},
}

func signature() string { return testToken[strings.LastIndexByte(testToken, '.')+1:] }

func TestHandlerNeverAnswersOrLogsTheToken(t *testing.T) {
	for _, tc := range handlerCases {
		t.Run(tc.name, func(t *testing.T) {
			auth := authenticator.TokenFunc(func(context.Context, string) (*authenticator.Response, bool, error) {
				if tc.ok {
					return &authenticator.Response{User: &user.DefaultInfo{Name: "u"}}, true, nil
				}
				return nil, false, tc.err
			})
			logger, logs := bufferedLogger(t)
			h := NewHandler(auth, 1<<20, V1, nil)
			body := `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"` + testToken + `"}}`
			req := httptest.NewRequestWithContext(klog.NewContext(context.Background(), logger), http.MethodPost, "/apis/authentication.k8s.io/v1/tokenreviews", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()

			h.ServeHTTP(rec, req)

			if rec.Code != tc.wantCode {
				t.Fatalf("got HTTP %d, want %d", rec.Code, tc.wantCode)
			}
			got := rec.Body.String()
			if !strings.Contains(got, tc.wantInBody) {
				t.Errorf("got body %s, want it to contain %q", got, tc.wantInBody)
			}
			out := logs()
			if !strings.Contains(out, "Response") || !strings.Contains(out, strings.ReplaceAll(tc.wantInBody, `"`, `\"`)) {
				t.Errorf("got log\n%s\nwant the response body logged at V(%d)", out, logLevelResponseBody)
			}
			for _, part := range strings.Split(testToken, ".") {
				if strings.Contains(got, part) || strings.Contains(out, part) {
					t.Errorf("got a body or log quoting the token:\nbody: %s\nlog: %s", got, out)
				}
			}
		})
	}
}

// bufferedLogger logs at V(10) into memory.
func bufferedLogger(t *testing.T) (klog.Logger, func() string) {
	logger := ktesting.NewLogger(t, ktesting.NewConfig(ktesting.Verbosity(logLevelResponseBody), ktesting.BufferLogs(true)))
	return logger, func() string {
		return logger.GetSink().(ktesting.Underlier).GetBuffer().String()
	}
}
