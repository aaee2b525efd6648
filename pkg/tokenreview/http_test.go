package tokenreview

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/tokenfed/tokenfed/pkg/authn"
)

// The handlers of the three review endpoints behind a real HTTP server:
// status, headers and bodies as DESIGN's Protocol and Outcomes promise.
// The server is plain HTTP: tokenreview does no TLS, pkg/server does.

const (
	pathV1      = "/apis/authentication.k8s.io/v1/tokenreviews"
	pathV1beta1 = "/apis/authentication.k8s.io/v1beta1/tokenreviews"
	// httpMaxBody is the body limit of the server below: small, so the
	// limit is reached without megabytes of traffic.
	httpMaxBody = 4096
)

// The tokens the authenticator below knows; any other is not trusted.
const (
	goodToken = "good.token.for-the-http-test"
	downToken = "down.token.for-the-http-test"
)

var httpUser = &user.DefaultInfo{Name: "hub:system:serviceaccount:ns:sa", UID: "sa-uid", Groups: []string{"hub:system:serviceaccounts"}}

// httpAuth authenticates goodToken for the audiences asked, says the
// issuer is unavailable for downToken, and refuses every other.
var httpAuth = authenticator.TokenFunc(func(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	switch token {
	case goodToken:
		auds, _ := authenticator.AudiencesFrom(ctx)
		return &authenticator.Response{User: httpUser, Audiences: auds}, true, nil
	case downToken:
		return nil, false, fmt.Errorf("%w: upstream hub: HTTP 500", authn.ErrUnavailable)
	}
	return nil, false, errors.New("token issuer is not trusted")
})

// startReviewServer serves the three endpoints as pkg/server routes them.
func startReviewServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(pathV1, NewHandler(httpAuth, nil, httpMaxBody, V1, nil))
	mux.Handle(pathV1beta1, NewHandler(httpAuth, nil, httpMaxBody, V1beta1, nil))
	mux.Handle("/authenticate", NewHandler(httpAuth, nil, httpMaxBody, "", nil))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func reviewBody(apiVersion, token string, audiences ...string) string {
	b, _ := json.Marshal(map[string]any{
		"apiVersion": apiVersion, "kind": "TokenReview",
		"spec": map[string]any{"token": token, "audiences": audiences},
	})
	return string(b)
}

// httpAnswer is a review answer as the server sent it.
type httpAnswer struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       *struct {
		Token string `json:"token"`
	} `json:"spec"`
	Status struct {
		Authenticated bool `json:"authenticated"`
		User          struct {
			Username string   `json:"username"`
			Groups   []string `json:"groups"`
		} `json:"user"`
		Audiences []string `json:"audiences"`
		Error     string   `json:"error"`
	} `json:"status"`
}

var answerCases = []struct {
	name, path, body string
	wantVersion      string
	wantAuth         bool
	wantAudiences    []string
	wantError        string
}{
	{name: "v1 on the v1 path", path: pathV1, body: reviewBody(V1, goodToken, "https://member.example"), wantVersion: V1, wantAuth: true, wantAudiences: []string{"https://member.example"}},
	{name: "v1beta1 on the v1beta1 path", path: pathV1beta1, body: reviewBody(V1beta1, goodToken), wantVersion: V1beta1, wantAuth: true},
	{name: "/authenticate answers v1beta1 in v1beta1", path: "/authenticate", body: reviewBody(V1beta1, goodToken), wantVersion: V1beta1, wantAuth: true},
	{name: "/authenticate answers v1 in v1", path: "/authenticate", body: reviewBody(V1, goodToken), wantVersion: V1, wantAuth: true},
	{name: "a token not valid is 200 with authenticated false", path: pathV1, body: reviewBody(V1, "some.other.token"), wantVersion: V1, wantError: "token issuer is not trusted"},
}

// TestHTTPAnswers: a review gets 200, JSON in the request's own
// apiVersion, status only (never spec.token).
func TestHTTPAnswers(t *testing.T) {
	srv := startReviewServer(t)
	for _, tc := range answerCases {
		t.Run(tc.name, func(t *testing.T) {
			code, header, body := postReview(t, srv, tc.path, "application/json", strings.NewReader(tc.body))
			if code != http.StatusOK || header.Get("Content-Type") != "application/json" {
				t.Fatalf("got HTTP %d %q %s, want 200 application/json", code, header.Get("Content-Type"), body)
			}
			var got httpAnswer
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("got body %s: %v", body, err)
			}
			if got.APIVersion != tc.wantVersion || got.Kind != "TokenReview" {
				t.Errorf("got %s %s, want %s TokenReview", got.APIVersion, got.Kind, tc.wantVersion)
			}
			if got.Spec != nil && got.Spec.Token != "" || strings.Contains(string(body), goodToken) {
				t.Errorf("got body %s, want no token in it", body)
			}
			st := got.Status
			wantUser := ""
			if tc.wantAuth {
				wantUser = httpUser.Name
			}
			if st.Authenticated != tc.wantAuth || st.Error != tc.wantError || st.User.Username != wantUser {
				t.Errorf("got status %+v, want authenticated=%v, error %q, user %q", st, tc.wantAuth, tc.wantError, wantUser)
			}
			if diff := cmp.Diff(tc.wantAudiences, st.Audiences); diff != "" {
				t.Errorf("status.audiences (-want +got):\n%s", diff)
			}
		})
	}
}

var refusalCases = []struct {
	name, method, path, contentType string
	body                            io.Reader
	wantCode                        int
	wantReason                      metav1.StatusReason
	wantMessage                     string
	wantHeader                      map[string]string
}{
	{
		name: "an issuer that cannot be asked is 503, without Retry-After", method: http.MethodPost, path: pathV1, contentType: "application/json",
		body: strings.NewReader(reviewBody(V1, downToken)), wantCode: http.StatusServiceUnavailable, wantReason: metav1.StatusReasonServiceUnavailable,
		wantMessage: "upstream hub: HTTP 500", wantHeader: map[string]string{"Retry-After": ""},
	},
	{
		name: "GET", method: http.MethodGet, path: pathV1, wantCode: http.StatusMethodNotAllowed, wantReason: metav1.StatusReasonMethodNotAllowed,
		wantMessage: "only POST is allowed", wantHeader: map[string]string{"Allow": http.MethodPost},
	},
	{
		name: "a content type other than JSON or protobuf", method: http.MethodPost, path: pathV1, contentType: "text/plain",
		body: strings.NewReader(reviewBody(V1, goodToken)), wantCode: http.StatusUnsupportedMediaType, wantReason: metav1.StatusReasonUnsupportedMediaType,
		wantMessage: "Content-Type must be application/json or application/vnd.kubernetes.protobuf",
	},
	{
		name: "not JSON", method: http.MethodPost, path: pathV1, contentType: "application/json",
		body: strings.NewReader("{"), wantCode: http.StatusBadRequest, wantReason: metav1.StatusReasonBadRequest,
		wantMessage: "malformed TokenReview: body is not a TokenReview of authentication.k8s.io/v1 or authentication.k8s.io/v1beta1",
	},
	{
		name: "another kind", method: http.MethodPost, path: "/authenticate", contentType: "application/json",
		body: strings.NewReader(strings.Replace(reviewBody(V1, goodToken), `"TokenReview"`, `"SubjectAccessReview"`, 1)), wantCode: http.StatusBadRequest, wantReason: metav1.StatusReasonBadRequest,
		wantMessage: "malformed TokenReview: body is not a TokenReview of authentication.k8s.io/v1 or authentication.k8s.io/v1beta1",
	},
	{
		name: "v1beta1 on the v1 path", method: http.MethodPost, path: pathV1, contentType: "application/json",
		body: strings.NewReader(reviewBody(V1beta1, goodToken)), wantCode: http.StatusBadRequest, wantReason: metav1.StatusReasonBadRequest,
		wantMessage: `malformed TokenReview: apiVersion "authentication.k8s.io/v1beta1" does not match the URL's authentication.k8s.io/v1`,
	},
	{
		name: "no token", method: http.MethodPost, path: pathV1, contentType: "application/json",
		body: strings.NewReader(reviewBody(V1, "")), wantCode: http.StatusBadRequest, wantReason: metav1.StatusReasonBadRequest,
		wantMessage: "malformed TokenReview: spec.token is empty",
	},
	{
		name: "a body over the limit, with its length announced", method: http.MethodPost, path: pathV1, contentType: "application/json",
		body: strings.NewReader(reviewBody(V1, strings.Repeat("x", httpMaxBody))), wantCode: http.StatusBadRequest, wantReason: metav1.StatusReasonBadRequest,
		wantMessage: "request body is larger than the limit",
	},
	{
		// An io.Reader of unknown length: the client sends it chunked.
		name: "a body over the limit, chunked", method: http.MethodPost, path: pathV1, contentType: "application/json",
		body: io.MultiReader(strings.NewReader(reviewBody(V1, strings.Repeat("x", httpMaxBody)))), wantCode: http.StatusBadRequest, wantReason: metav1.StatusReasonBadRequest,
		wantMessage: "request body is larger than the limit",
	},
}

// TestHTTPRefusals: a malformed request gets its 4xx and a metav1.Status
// saying why, an unavailable issuer 503; none of them quotes the token.
func TestHTTPRefusals(t *testing.T) {
	srv := startReviewServer(t)
	for _, tc := range refusalCases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			code, header, body := do(t, srv.Client(), req)
			if code != tc.wantCode || header.Get("Content-Type") != "application/json" {
				t.Fatalf("got HTTP %d %q %s, want %d application/json", code, header.Get("Content-Type"), body, tc.wantCode)
			}
			for name, want := range tc.wantHeader {
				if got := header.Get(name); got != want {
					t.Errorf("got header %s %q, want %q", name, got, want)
				}
			}
			var st metav1.Status
			if err := json.Unmarshal(body, &st); err != nil {
				t.Fatalf("got body %s, want a metav1.Status: %v", body, err)
			}
			if st.APIVersion != "v1" || st.Kind != "Status" || st.Status != metav1.StatusFailure || st.Code != int32(tc.wantCode) ||
				st.Reason != tc.wantReason || !strings.Contains(st.Message, tc.wantMessage) {
				t.Errorf("got %s, want a v1 Status, Failure, code %d, reason %s, a message with %q", body, tc.wantCode, tc.wantReason, tc.wantMessage)
			}
			for _, tok := range []string{goodToken, downToken} {
				if strings.Contains(string(body), tok) {
					t.Errorf("got %s, want no token in it", body)
				}
			}
		})
	}
}

func postReview(t *testing.T, srv *httptest.Server, path, contentType string, body io.Reader) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	return do(t, srv.Client(), req)
}

func do(t *testing.T, c *http.Client, req *http.Request) (int, http.Header, []byte) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}
