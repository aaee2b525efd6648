package app

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/staticissuer"
)

// Every route of an App as tokenfed serve wires it, over its own HTTPS
// listener with real client certificates: who gets what status, headers
// and body. DESIGN "Protocol", "Callers" and "Privileged endpoints".

// The callers of the served app: a member (kube-apiserver's certificate
// from `make certs`, group tokenfed:callers), an operator granted the
// privileged endpoints, a certificate without a policy, and nobody.
var (
	asMember   = caller{cn: "kube-apiserver", orgs: []string{"tokenfed:callers"}}
	asOperator = caller{cn: "operator"}
	asStranger = caller{cn: "stranger"}
	asNobody   = caller{}
)

type caller struct {
	cn   string
	orgs []string
}

func httpTestConfig(hub *staticissuer.Issuer) v1alpha1.Configuration {
	return v1alpha1.Configuration{
		Issuers: []v1alpha1.Issuer{hub.Config()},
		Callers: v1alpha1.Callers{Authorization: v1alpha1.CallerAuthorization{Static: []v1alpha1.CallerPolicy{
			{Name: "members", Groups: []string{"tokenfed:callers"}, Issuers: []string{"hub"}},
			{Name: "operators", Users: []string{"operator"}, Endpoints: []string{"/metrics", "/readyz"}},
		}}},
	}
}

const (
	contentJSON = "application/json"
	contentText = "text/plain; charset=utf-8"
)

var routeCases = []struct {
	name, method, path string
	as                 caller
	// review, when set, is posted: a v1 or v1beta1 review of a hub token.
	review      string
	wantCode    int
	wantType    string
	wantInBody  string
	wantExactly bool // the body is wantInBody and nothing else
	wantReason  metav1.StatusReason
}{
	{name: "healthz is open", method: http.MethodGet, path: "/healthz", as: asNobody, wantCode: 200, wantInBody: "ok", wantExactly: true},
	{name: "livez is open", method: http.MethodGet, path: "/livez", as: asNobody, wantCode: 200, wantInBody: "ok", wantExactly: true},
	{name: "readyz is open", method: http.MethodGet, path: "/readyz", as: asNobody, wantCode: 200, wantType: contentText, wantInBody: "ok", wantExactly: true},
	{name: "readyz details are not for nobody", method: http.MethodGet, path: "/readyz?verbose", as: asNobody, wantCode: 200, wantType: contentText, wantInBody: "ok", wantExactly: true},
	{name: "readyz details are not for a member", method: http.MethodGet, path: "/readyz?verbose", as: asMember, wantCode: 200, wantType: contentText, wantInBody: "ok", wantExactly: true},
	{name: "readyz details for an operator", method: http.MethodGet, path: "/readyz?verbose", as: asOperator, wantCode: 200, wantType: contentText, wantInBody: "[+]serving-certificate ok\n[+]issuer-hub ok (1 key, "},
	{name: "metrics for an operator", method: http.MethodGet, path: "/metrics", as: asOperator, wantCode: 200, wantInBody: `tokenfed_keyset_age_seconds{issuer="hub"}`},
	{name: "metrics, a member", method: http.MethodGet, path: "/metrics", as: asMember, wantCode: 403, wantType: contentJSON, wantReason: metav1.StatusReasonForbidden, wantInBody: "this caller may not read /metrics"},
	{name: "metrics, nobody", method: http.MethodGet, path: "/metrics", as: asNobody, wantCode: 401, wantType: contentJSON, wantReason: metav1.StatusReasonUnauthorized, wantInBody: "a client certificate or a bearer token minted for tokenfed is required"},
	{name: "pprof is not served without --profiling", method: http.MethodGet, path: "/debug/pprof/", as: asOperator, wantCode: 404},
	{name: "an unknown path", method: http.MethodGet, path: "/apis", as: asOperator, wantCode: 404},
	{name: "v1 review, a member", method: http.MethodPost, path: "/apis/authentication.k8s.io/v1/tokenreviews", as: asMember, review: "authentication.k8s.io/v1", wantCode: 200, wantType: contentJSON, wantInBody: `"apiVersion":"authentication.k8s.io/v1","metadata":{},"spec":{},"status":{"authenticated":true,"user":{"username":"hub:system:serviceaccount:apps:web"`},
	{name: "v1beta1 review, a member", method: http.MethodPost, path: "/apis/authentication.k8s.io/v1beta1/tokenreviews", as: asMember, review: "authentication.k8s.io/v1beta1", wantCode: 200, wantType: contentJSON, wantInBody: `"apiVersion":"authentication.k8s.io/v1beta1","metadata":{},"spec":{},"status":{"authenticated":true`},
	{name: "/authenticate, a member", method: http.MethodPost, path: "/authenticate", as: asMember, review: "authentication.k8s.io/v1beta1", wantCode: 200, wantType: contentJSON, wantInBody: `"apiVersion":"authentication.k8s.io/v1beta1"`},
	{name: "review, an operator: no grant", method: http.MethodPost, path: "/authenticate", as: asOperator, review: "authentication.k8s.io/v1", wantCode: 403, wantType: contentJSON, wantReason: metav1.StatusReasonForbidden, wantInBody: "this caller may not review tokens"},
	{name: "review, a certificate without a policy", method: http.MethodPost, path: "/authenticate", as: asStranger, review: "authentication.k8s.io/v1", wantCode: 403, wantType: contentJSON, wantReason: metav1.StatusReasonForbidden, wantInBody: "this caller may not review tokens"},
	{name: "review, nobody", method: http.MethodPost, path: "/authenticate", as: asNobody, review: "authentication.k8s.io/v1", wantCode: 401, wantType: contentJSON, wantReason: metav1.StatusReasonUnauthorized, wantInBody: "a client certificate or a bearer token minted for tokenfed is required"},
	{name: "a malformed review, a member", method: http.MethodPost, path: "/authenticate", as: asMember, review: "authentication.k8s.io/v2", wantCode: 400, wantType: contentJSON, wantReason: metav1.StatusReasonBadRequest, wantInBody: "malformed TokenReview"},
}

func TestHTTPRoutes(t *testing.T) {
	hub := newStaticIssuer(t, "hub")
	s := serveApp(t, httpTestConfig(hub), false)
	token, err := hub.Token(staticissuer.Claims{Namespace: "apps", ServiceAccount: "web"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range routeCases {
		t.Run(tc.name, func(t *testing.T) {
			body, contentType := "", ""
			if tc.review != "" {
				b, _ := json.Marshal(map[string]any{"apiVersion": tc.review, "kind": "TokenReview", "spec": map[string]any{"token": token}})
				body, contentType = string(b), contentJSON
			}
			code, header, got := do(t, s.client(t, tc.as.cn, tc.as.orgs), tc.method, s.url+tc.path, contentType, body)
			if code != tc.wantCode || !strings.Contains(got, tc.wantInBody) || tc.wantExactly && got != tc.wantInBody {
				t.Fatalf("got HTTP %d %.300q, want %d with %q (exactly: %v)", code, got, tc.wantCode, tc.wantInBody, tc.wantExactly)
			}
			if ct := header.Get("Content-Type"); tc.wantType != "" && ct != tc.wantType {
				t.Errorf("got Content-Type %q, want %q", ct, tc.wantType)
			}
			if strings.Contains(got, token) {
				t.Errorf("got a body quoting the token")
			}
			if tc.wantReason != "" {
				var st metav1.Status
				if err := json.Unmarshal([]byte(got), &st); err != nil || st.Kind != "Status" || st.Code != int32(code) || st.Reason != tc.wantReason {
					t.Errorf("got %s (%v), want a metav1.Status with code %d and reason %s", got, err, code, tc.wantReason)
				}
			}
		})
	}
}
