package tokenreview

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"

	"github.com/tokenfed/tokenfed/pkg/authn"
	"github.com/tokenfed/tokenfed/pkg/callers"
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
			h := NewHandler(auth, nil, 1<<20, V1, nil)
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

// The adversarial reviews of the audience bounds, whole through the
// handler: each fits the 1 MiB body limit.
var audienceReviewCases = []struct {
	name string
	auds []string
	// wantCode and wantMsg are the answer; wantAsked, what the
	// authenticator was asked for (nil when it must not be called).
	wantCode  int
	wantMsg   string
	wantAsked []string
}{
	{
		// client-go escapes '<' sixfold: forwarded, this review would be
		// 6 MiB, past kube-apiserver's 3 MiB limit.
		name: "one audience of 1 MiB of '<'", auds: []string{strings.Repeat("<", 1<<20-4096)},
		wantCode: http.StatusBadRequest, wantMsg: "malformed TokenReview: spec.audiences[0] is longer than 1024 bytes",
	},
	{
		// Intersecting these with a token's audiences took a second of CPU.
		name: "20000 distinct audiences and 25000 copies", auds: adversaryAudiences(),
		wantCode: http.StatusBadRequest, wantMsg: "malformed TokenReview: spec.audiences has 45000 entries, more than 32",
	},
	{
		name: "repeats are asked once, in order", auds: []string{"https://b.test", "https://a.test", "https://b.test"},
		wantCode: http.StatusOK, wantAsked: []string{"https://b.test", "https://a.test"},
	},
}

func adversaryAudiences() []string {
	var auds []string
	for i := range 20000 {
		auds = append(auds, fmt.Sprintf("https://issuer.%04d", i))
	}
	for range 25000 {
		auds = append(auds, "https://issuer.test")
	}
	return auds
}

func TestHandlerBoundsAudiences(t *testing.T) {
	for _, tc := range audienceReviewCases {
		t.Run(tc.name, func(t *testing.T) {
			var asked []string
			calls := 0
			auth := authenticator.TokenFunc(func(ctx context.Context, _ string) (*authenticator.Response, bool, error) {
				calls++
				asked, _ = authenticator.AudiencesFrom(ctx)
				return &authenticator.Response{User: &user.DefaultInfo{Name: "u"}, Audiences: asked}, true, nil
			})
			body := jsonBody(t, V1, tc.auds)
			if len(body) > 1<<20 {
				t.Fatalf("got a %d-byte review, want one within the 1 MiB limit", len(body))
			}
			req := httptest.NewRequest(http.MethodPost, "/authenticate", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()

			NewHandler(auth, nil, 1<<20, "", nil).ServeHTTP(rec, req)

			if rec.Code != tc.wantCode {
				t.Fatalf("got HTTP %d %s, want %d", rec.Code, rec.Body, tc.wantCode)
			}
			if tc.wantCode != http.StatusOK {
				checkStatus(t, rec.Body.Bytes(), tc.wantCode, tc.wantMsg)
				if calls != 0 {
					t.Errorf("got %d authentications, want none for a malformed review", calls)
				}
				return
			}
			if diff := cmp.Diff(tc.wantAsked, []string(asked)); diff != "" {
				t.Errorf("audiences asked (-want +got):\n%s", diff)
			}
		})
	}
}

// guardFunc adapts a function to Guard.
type guardFunc func() (*authenticator.Response, error)

func (f guardFunc) Check(context.Context, string, []string) (*authenticator.Response, error) {
	return f()
}

// TestHandlerGuard: the guard's refusal or cached answer is the review's
// answer, and the chain is asked only when the guard lets the review
// through without one.
func TestHandlerGuard(t *testing.T) {
	cached := &authenticator.Response{User: &user.DefaultInfo{Name: "from-the-cache"}}
	for _, tc := range []struct {
		name       string
		guard      guardFunc
		wantCode   int
		wantInBody string
		wantChain  bool
	}{
		{name: "let through", guard: func() (*authenticator.Response, error) { return nil, nil }, wantCode: http.StatusOK, wantInBody: `"username":"from-the-chain"`, wantChain: true},
		{name: "answered from the cache", guard: func() (*authenticator.Response, error) { return cached, nil }, wantCode: http.StatusOK, wantInBody: `"username":"from-the-cache"`},
		{name: "refused", guard: func() (*authenticator.Response, error) { return nil, callers.ErrIssuerNotGranted }, wantCode: http.StatusOK, wantInBody: callers.ErrIssuerNotGranted.Error()},
		{name: "unavailable", guard: func() (*authenticator.Response, error) {
			return nil, fmt.Errorf("%w: no answer", callers.ErrAuthorizationUnavailable)
		}, wantCode: http.StatusServiceUnavailable, wantInBody: callers.ErrAuthorizationUnavailable.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asked := false
			auth := authenticator.TokenFunc(func(context.Context, string) (*authenticator.Response, bool, error) {
				asked = true
				return &authenticator.Response{User: &user.DefaultInfo{Name: "from-the-chain"}}, true, nil
			})
			h := NewHandler(auth, tc.guard, 1<<20, V1, nil)
			body := `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"` + testToken + `"}}`
			req := httptest.NewRequest(http.MethodPost, "/apis/authentication.k8s.io/v1/tokenreviews", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()

			h.ServeHTTP(rec, req)

			if rec.Code != tc.wantCode || !strings.Contains(rec.Body.String(), tc.wantInBody) {
				t.Errorf("got HTTP %d %s, want %d with %q", rec.Code, rec.Body.String(), tc.wantCode, tc.wantInBody)
			}
			if asked != tc.wantChain {
				t.Errorf("got the chain asked: %v, want %v", asked, tc.wantChain)
			}
		})
	}
}

// checkStatus checks a 4xx body: a metav1.Status with code and message.
func checkStatus(t *testing.T, body []byte, code int, msg string) {
	t.Helper()
	var st metav1.Status
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("got body %s, want a metav1.Status: %v", body, err)
	}
	if st.Kind != "Status" || st.Code != int32(code) || st.Message != msg || st.Reason != metav1.StatusReasonBadRequest {
		t.Errorf("got %+v, want a Status with code %d, reason BadRequest and message %q", st, code, msg)
	}
}
