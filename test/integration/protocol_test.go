package integration

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestAnswersInRequestVersion: the response has the request's
// apiVersion/kind, status only, and never the token.
func TestAnswersInRequestVersion(t *testing.T) {
	p := startTokenfed(t, nil)
	cases := []struct{ path, version string }{
		{"/apis/authentication.k8s.io/v1/tokenreviews", "v1"},
		{"/apis/authentication.k8s.io/v1beta1/tokenreviews", "v1beta1"},
		{"/authenticate", "v1"},
		{"/authenticate", "v1beta1"},
	}
	const secret = "secret-token-value-that-must-not-echo"
	for _, tc := range cases {
		t.Run(tc.path+"/"+tc.version, func(t *testing.T) {
			body := `{"apiVersion":"authentication.k8s.io/` + tc.version + `","kind":"TokenReview","spec":{"token":"` + secret + `","audiences":["x"]}}`
			code, resp := post(t, p.Client(), p.URL+tc.path, "application/json", body)
			if code != 200 {
				t.Fatalf("got HTTP %d, want 200", code)
			}
			var got struct {
				APIVersion string         `json:"apiVersion"`
				Kind       string         `json:"kind"`
				Spec       map[string]any `json:"spec"`
				Status     struct {
					Authenticated bool   `json:"authenticated"`
					Error         string `json:"error"`
				} `json:"status"`
			}
			if err := json.Unmarshal([]byte(resp), &got); err != nil {
				t.Fatal(err)
			}
			if got.APIVersion != "authentication.k8s.io/"+tc.version || got.Kind != "TokenReview" {
				t.Fatalf("got %s %s, want authentication.k8s.io/%s TokenReview", got.APIVersion, got.Kind, tc.version)
			}
			if strings.Contains(resp, secret) || len(got.Spec) != 0 {
				t.Fatalf("response %s echoes the spec or token", resp)
			}
			if got.Status.Authenticated || got.Status.Error == "" {
				t.Fatalf("got status %+v, want unauthenticated with an error", got.Status)
			}
		})
	}
}
