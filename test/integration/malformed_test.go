package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const validV1 = `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"a.b.c"}}`

var malformedCases = []struct {
	name        string
	method      string
	path        string
	contentType string
	body        string
	wantCode    int
	wantMessage string
}{
	{name: "not JSON", body: "{not json", wantCode: 400, wantMessage: "not a TokenReview"},
	{name: "JSON array", body: `[` + validV1 + `]`, wantCode: 400, wantMessage: "not a TokenReview"},
	{name: "wrong kind", body: `{"apiVersion":"authentication.k8s.io/v1","kind":"SubjectAccessReview","spec":{"token":"x"}}`, wantCode: 400, wantMessage: "not a TokenReview"},
	{name: "wrong apiVersion", body: `{"apiVersion":"authentication.k8s.io/v2","kind":"TokenReview","spec":{"token":"x"}}`, wantCode: 400, wantMessage: "not a TokenReview"},
	{name: "version differs from URL", path: "/apis/authentication.k8s.io/v1beta1/tokenreviews", body: validV1, wantCode: 400, wantMessage: "does not match the URL"},
	{name: "missing token", body: `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{}}`, wantCode: 400, wantMessage: "spec.token is empty"},
	{name: "2 MiB body", body: `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"` + strings.Repeat("a", 2<<20) + `"}}`, wantCode: 400, wantMessage: "larger than the limit"},
	{name: "1 MiB token", body: `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"` + strings.Repeat("a", 1<<20) + `"}}`, wantCode: 400, wantMessage: "larger than the limit"},
	{name: "wrong Content-Type", contentType: "text/plain", body: validV1, wantCode: 415, wantMessage: "Content-Type must be"},
	{name: "no Content-Type", contentType: "-", body: validV1, wantCode: 415, wantMessage: "Content-Type must be"},
	{name: "GET instead of POST", method: http.MethodGet, wantCode: 405, wantMessage: "only POST"},
	{name: "empty body", body: "", wantCode: 400, wantMessage: "not a TokenReview"},
	{name: "null", body: "null", wantCode: 400, wantMessage: "not a TokenReview"},
}

// TestMalformedRequests: every malformed request gets its documented 4xx
// and a metav1.Status, none gets a 5xx, and the server keeps serving.
func TestMalformedRequests(t *testing.T) {
	p := startTokenfed(t, nil)
	c := p.Client()
	for _, tc := range malformedCases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(t, c, p.URL, tc.method, tc.path, tc.contentType, tc.body)
			if code != tc.wantCode {
				t.Fatalf("got HTTP %d, want %d (body %.200s)", code, tc.wantCode, body)
			}
			var st metav1.Status
			if err := json.Unmarshal([]byte(body), &st); err != nil || st.Kind != "Status" || st.Status != metav1.StatusFailure {
				t.Fatalf("got body %.200s, want a metav1.Status failure", body)
			}
			if !strings.Contains(st.Message, tc.wantMessage) {
				t.Fatalf("got message %q, want it to contain %q", st.Message, tc.wantMessage)
			}
		})
	}
	code, body := post(t, c, p.URL+"/authenticate", "application/json", validV1)
	if code != 200 || !strings.Contains(body, `"status":{`) {
		t.Fatalf("after malformed requests got %d %s, want 200 with a status", code, body)
	}
	if got := metric(t, p, `tokenfed_tokenreview_requests_total{api_version="v1",code="5`); got != "" {
		t.Fatalf("got 5xx responses: %s", got)
	}
}

func do(t *testing.T, c *http.Client, base, method, path, contentType, body string) (int, string) {
	t.Helper()
	if method == "" {
		method = http.MethodPost
	}
	if path == "" {
		path = "/apis/authentication.k8s.io/v1/tokenreviews"
	}
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	switch contentType {
	case "":
		req.Header.Set("Content-Type", "application/json")
	case "-":
	default:
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	return resp.StatusCode, string(data)
}
