package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Who asks, in endpointCase.as.
const (
	asNobody   = "no credential"
	asApp      = "the app's token (no endpoint grant)"
	asStranger = "a certificate no policy names"
	asOperator = "the operator's certificate (granted)"
)

// endpointCase is one request to tokenfed and the answer it must get.
type endpointCase struct {
	path     string
	as       string
	review   bool // POST a review of an issuer-A token instead of GET
	wantCode int
	// wantBody is the whole body when exact, else a part of it.
	wantBody string
	exact    bool
}

var endpointCases = []endpointCase{
	{path: "/metrics", as: asNobody, wantCode: http.StatusUnauthorized, wantBody: "a client certificate or a bearer token minted for tokenfed is required"},
	{path: "/metrics", as: asApp, wantCode: http.StatusForbidden, wantBody: "this caller may not read /metrics"},
	{path: "/metrics", as: asStranger, wantCode: http.StatusForbidden, wantBody: "this caller may not read /metrics"},
	{path: "/metrics", as: asOperator, wantCode: http.StatusOK, wantBody: "# TYPE tokenfed_caller_decisions_total counter"},
	// Readiness details are withheld, not refused: the status stays
	// readable by probes that add ?verbose.
	{path: "/readyz?verbose", as: asNobody, wantCode: http.StatusOK, wantBody: "ok", exact: true},
	{path: "/readyz?verbose", as: asApp, wantCode: http.StatusOK, wantBody: "ok", exact: true},
	{path: "/readyz?verbose", as: asOperator, wantCode: http.StatusOK, wantBody: "[+]serving-certificate ok"},
	{path: "/debug/pprof/", as: asNobody, wantCode: http.StatusUnauthorized, wantBody: "a client certificate or a bearer token minted for tokenfed is required"},
	{path: "/debug/pprof/", as: asApp, wantCode: http.StatusForbidden, wantBody: "this caller may not read /debug/pprof"},
	{path: "/debug/pprof/", as: asOperator, wantCode: http.StatusOK, wantBody: "Types of profiles available"},
	{path: "/readyz", as: asNobody, wantCode: http.StatusOK, wantBody: "ok", exact: true},
	{path: "/livez", as: asNobody, wantCode: http.StatusOK, wantBody: "ok", exact: true},
	{path: "/healthz", as: asNobody, wantCode: http.StatusOK, wantBody: "ok", exact: true},
	{path: reviewPath, as: asNobody, review: true, wantCode: http.StatusUnauthorized, wantBody: "a client certificate or a bearer token minted for tokenfed is required"},
	{path: reviewPath, as: asStranger, review: true, wantCode: http.StatusForbidden, wantBody: "this caller may not review tokens"},
}

func testPrivilegedEndpoints(t *testing.T, e *appsEnv) {
	clients := map[string]*http.Client{
		asNobody: bareClient(e.p), asApp: bareClient(e.p),
		asStranger: certClient(t, e.p, strangerCN), asOperator: e.operator,
	}
	bearers := map[string]string{asApp: e.appToken}
	for _, c := range endpointCases {
		method := http.MethodGet
		if c.review {
			method = http.MethodPost
		}
		t.Run(method+" "+c.path+" as "+c.as, func(t *testing.T) {
			runEndpointCase(t, e, c, clients[c.as], bearers[c.as])
		})
	}
}

func runEndpointCase(t *testing.T, e *appsEnv, c endpointCase, client *http.Client, bearer string) {
	var a answer
	if c.review {
		a, _ = review(t, client, e.p, bearer, e.aToken)
	} else {
		a = do(t, client, e.p, bearer, http.MethodGet, c.path, nil)
	}
	body := a.body
	if a.code >= 400 {
		body = statusMessage(t, a)
	}
	matched := strings.Contains(body, c.wantBody)
	if c.exact {
		matched = body == c.wantBody
	}
	if a.code != c.wantCode || !matched {
		t.Fatalf("got HTTP %d %q, want %d with %q", a.code, short(body), c.wantCode, c.wantBody)
	}
}

// statusMessage is the message of a refusal, which must be a metav1.Status
// (what client-go decodes); a refusal is never a TokenReview.
func statusMessage(t *testing.T, a answer) string {
	t.Helper()
	var st metav1.Status
	if err := json.Unmarshal([]byte(a.body), &st); err != nil || st.Kind != "Status" || int(st.Code) != a.code {
		t.Fatalf("HTTP %d: got body %q, want a metav1.Status with code %d", a.code, short(a.body), a.code)
	}
	return st.Message
}

func short(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}
