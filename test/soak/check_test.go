package main

import (
	"net/http"
	"testing"
)

func TestCheck(t *testing.T) {
	const v1 = "authentication.k8s.io/v1"
	user := request{apiVersion: v1, token: "tok.en.sig", want: authenticated("hub:system:serviceaccount:soak:app", map[string]string{podNameExtra: "app-0"})}
	refusal := request{apiVersion: v1, token: "tok.en.sig", want: refused()}
	malformed := request{want: want{code: http.StatusBadRequest}}
	okUser := `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","status":{"authenticated":true,"user":{"username":"hub:system:serviceaccount:soak:app","extra":{"authentication.kubernetes.io/pod-name":["app-0"]}}}}`
	for _, c := range []struct {
		name   string
		r      request
		code   int
		body   string
		reason string // "" for an expected answer
	}{
		{"authenticated", user, 200, okUser, ""},
		{"refused", refusal, 200, `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","status":{"error":"invalid token"}}`, ""},
		{"malformed", malformed, 400, `{"kind":"Status","apiVersion":"v1","status":"Failure","code":400}`, ""},
		{"token quoted", refusal, 200, `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","status":{"error":"bad tok.en.sig"}}`, "token in the answer"},
		{"5xx", user, 503, `{"kind":"Status","code":503}`, "HTTP 5xx"},
		{"other status", user, 429, ``, "wrong HTTP status"},
		{"not JSON", user, 200, `<html>`, "undecodable answer"},
		{"400 without a Status", malformed, 400, `{"kind":"TokenReview"}`, "wrong error body"},
		{"other version", user, 200, `{"apiVersion":"authentication.k8s.io/v1beta1","kind":"TokenReview","status":{"authenticated":true}}`, "wrong apiVersion or kind"},
		{"spec echoed", user, 200, `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"other"},"status":{}}`, "spec.token in the answer"},
		{"refused, want user", user, 200, `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","status":{"error":"x"}}`, "wrong authenticated"},
		{"user, want refusal", refusal, 200, okUser, "wrong authenticated"},
		{"refusal without error", refusal, 200, `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","status":{}}`, "refusal without status.error"},
		{"refusal with user", refusal, 200, `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","status":{"error":"x","user":{"username":"u"}}}`, "user in a refusal"},
		{"other user", user, 200, `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","status":{"authenticated":true,"user":{"username":"hub:system:serviceaccount:soak:other"}}}`, "wrong username"},
		{"no extra", user, 200, `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","status":{"authenticated":true,"user":{"username":"hub:system:serviceaccount:soak:app"}}}`, "wrong extra"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := check(c.r, c.code, []byte(c.body))
			switch {
			case c.reason == "" && p != nil:
				t.Fatalf("got %s (%s), want no problem", p.reason, p.detail)
			case c.reason != "" && p == nil:
				t.Fatalf("got no problem, want %s", c.reason)
			case p != nil && p.reason != c.reason:
				t.Fatalf("got %s (%s), want %s", p.reason, p.detail, c.reason)
			}
		})
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 31
go_memstats_heap_inuse_bytes 6.5011712e+06
tokenfed_cache_evictions_total{cache="callers"} 0
tokenfed_cache_evictions_total{cache="reviews"} 1234
tokenfed_tokenreview_requests_total{api_version="v1",code="200",outcome="authenticated"} 4205
`
	m, requests := parseMetrics(text)
	for name, want := range map[string]float64{goroutinesMetric: 31, heapInUseMetric: 6501171.2, evictionsMetric: 1234} {
		if got, ok := m[name]; !ok || got != want {
			t.Errorf("%s: got %v (present %v), want %v", name, got, ok, want)
		}
	}
	if len(requests) != 1 || requests[0] != `tokenfed_tokenreview_requests_total{api_version="v1",code="200",outcome="authenticated"} 4205` {
		t.Errorf("request lines: got %q", requests)
	}
}
