package keyset

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestOptionsValidation(t *testing.T) {
	static := []byte(`{"keys":[]}`)
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"no name", Options{JWKSURL: "https://a"}, "issuer name"},
		{"no source", Options{IssuerName: "a"}, "got 0"},
		{"two sources", Options{IssuerName: "a", JWKSURL: "https://a", StaticJWKS: static}, "got 2"},
		{"relative url", Options{IssuerName: "a", JWKSURL: "/jwks"}, "absolute"},
		{"ftp url", Options{IssuerName: "a", DiscoveryURL: "ftp://a/x"}, "absolute"},
		{"user info", Options{IssuerName: "a", JWKSURL: "https://u:p@a/jwks"}, "user info"},
		{"discovery without issuer", Options{IssuerName: "a", DiscoveryURL: "https://a/.well-known/openid-configuration"}, "issuer URL is required"},
		{"discovery with issuer", Options{IssuerName: "a", Issuer: "https://a", DiscoveryURL: "https://a/.well-known/openid-configuration"}, ""},
		{"HS256", Options{IssuerName: "a", JWKSURL: "https://a", Algorithms: []string{"HS256"}}, `"HS256" is not supported`},
		{"none", Options{IssuerName: "a", JWKSURL: "https://a", Algorithms: []string{"none"}}, "not supported"},
		{"refresh bounds", Options{IssuerName: "a", JWKSURL: "https://a", MinRefresh: time.Hour, MaxRefresh: time.Minute}, "refresh bounds"},
		{"negative", Options{IssuerName: "a", JWKSURL: "https://a", MaxStaleness: -1}, "negative"},
		{"ok", Options{IssuerName: "a", JWKSURL: "https://a/jwks"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opts)
			if !errContains(err, tc.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestFetchTimeout: a server that never answers costs FetchTimeout, not
// forever.
func TestFetchTimeout(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	t.Cleanup(func() { close(release); hang.Close() })
	_, err := fetchOnce(t, Options{JWKSURL: hang.URL, Client: hang.Client(), FetchTimeout: 50 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "deadline") && !strings.Contains(err.Error(), "Timeout") {
		t.Fatalf("got error %v, want a timeout", err)
	}
}
