package callers_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/callers"
	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
	"github.com/tokenfed/tokenfed/pkg/testing/staticissuer"
)

// The gate in front of the review endpoint and a privileged one, behind a
// real TLS server that requests (and does not verify) client
// certificates as pkg/server's does: callers authenticate with
// certificates from real handshakes or with their own tokens, which the
// real chain reviews. Status codes, headers and bodies are DESIGN's
// "Callers": unauthenticated 401, no grant 403, over its rate 429 with
// Retry-After.

// httpEnv is the server and what its callers hold.
type httpEnv struct {
	srv       *httptest.Server
	hub, edge *staticissuer.Issuer
	ca, other *devcerts.CA
}

func newHTTPEnv(t *testing.T) *httpEnv {
	t.Helper()
	e := &httpEnv{hub: staticissuer.NewT(t, "hub"), edge: staticissuer.NewT(t, "edge"), ca: newCA(t, "callers-ca"), other: newCA(t, "other-ca")}
	cfg := &v1alpha1.Configuration{
		Server:  v1alpha1.Server{TLSCertFile: "tls.crt", TLSPrivateKeyFile: "tls.key", ClientCAFile: "ca.crt"},
		Issuers: []v1alpha1.Issuer{e.hub.Config(), e.edge.Config()},
		Callers: v1alpha1.Callers{
			Tokens: &v1alpha1.CallerTokens{Audiences: []string{"tokenfed"}, Issuers: []string{"hub"}},
			Authorization: v1alpha1.CallerAuthorization{Static: []v1alpha1.CallerPolicy{
				{Name: "members", Users: []string{"member-a"}, Issuers: []string{"hub"}},
				{Name: "apps", Users: []string{e.hub.Username("apps", "app")}, Issuers: []string{"hub"}, RateLimit: &v1alpha1.RateLimit{QPS: 0.001, Burst: 2}},
				{Name: "monitoring", Groups: []string{"monitoring"}, Endpoints: []string{"/metrics"}},
			}},
		},
	}
	roots := x509.NewCertPool()
	roots.AddCert(e.ca.Cert)
	st := newReviewStack(t, cfg, roots)
	mux := http.NewServeMux()
	mux.Handle("/authenticate", st.reviews)
	mux.Handle("/metrics", st.gate.Endpoint("/metrics", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "metrics for the granted\n")
	})))
	e.srv = httptest.NewUnstartedServer(mux)
	e.srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)
	return e
}

func newCA(t *testing.T, name string) *devcerts.CA {
	t.Helper()
	ca, err := devcerts.NewCA(name, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// caller is how one caller reaches the server: its certificate (none when
// ca is nil) and its bearer token ("" for none).
type caller struct {
	ca        *devcerts.CA
	cn        string
	orgs      []string
	bearerFor func(*testing.T, *httpEnv) string
}

// client is an HTTPS client of e.srv presenting c's certificate.
func (e *httpEnv) client(t *testing.T, c caller) *http.Client {
	t.Helper()
	// srv.Client() is one client shared by every call: change a copy.
	tr := e.srv.Client().Transport.(*http.Transport).Clone()
	if c.ca != nil {
		certPEM, keyPEM, err := c.ca.Issue(c.cn, c.orgs, nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		tr.TLSClientConfig.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Transport: tr}
}

// send asks path as c; a POST carries a v1 review of a hub token.
func (e *httpEnv) send(t *testing.T, c caller, method, path, token string) (int, http.Header, string) {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		b, _ := json.Marshal(map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": map[string]any{"token": token}})
		body = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.bearerFor != nil {
		req.Header.Set("Authorization", "Bearer "+c.bearerFor(t, e))
	}
	resp, err := e.client(t, c).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func (e *httpEnv) token(t *testing.T, is *staticissuer.Issuer, sa string, auds ...string) string {
	t.Helper()
	tok, err := is.Token(staticissuer.Claims{Namespace: "apps", ServiceAccount: sa, Audiences: auds})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

var (
	member  = func(e *httpEnv) caller { return caller{ca: e.ca, cn: "member-a"} }
	monitor = func(e *httpEnv) caller { return caller{ca: e.ca, cn: "prometheus", orgs: []string{"monitoring"}} }
)

var httpCases = []struct {
	name         string
	as           func(*httpEnv) caller
	method, path string
	// review is the reviewed token; nil for a hub token of apps/web.
	review     func(*testing.T, *httpEnv) string
	wantCode   int
	wantReason metav1.StatusReason // of a refusal; "" for 200
	wantInBody string
}{
	{
		name: "a member's certificate, a hub token", as: member, method: http.MethodPost, path: "/authenticate",
		wantCode: http.StatusOK, wantInBody: `"username":"hub:system:serviceaccount:apps:web"`,
	},
	{
		name: "a member's certificate, an edge token: not granted", as: member, method: http.MethodPost, path: "/authenticate",
		review:   func(t *testing.T, e *httpEnv) string { return e.token(t, e.edge, "web") },
		wantCode: http.StatusOK, wantInBody: `"error":"` + callers.ErrIssuerNotGranted.Error() + `"`,
	},
	{
		name: "an app's own token, minted for tokenfed", method: http.MethodPost, path: "/authenticate",
		as: func(*httpEnv) caller {
			return caller{bearerFor: func(t *testing.T, e *httpEnv) string { return e.token(t, e.hub, "app", "tokenfed") }}
		},
		wantCode: http.StatusOK, wantInBody: `"authenticated":true`,
	},
	{
		name: "no credential", as: func(*httpEnv) caller { return caller{} }, method: http.MethodPost, path: "/authenticate",
		wantCode: http.StatusUnauthorized, wantReason: metav1.StatusReasonUnauthorized, wantInBody: "a client certificate or a bearer token minted for tokenfed is required",
	},
	{
		name: "a certificate of another CA", as: func(e *httpEnv) caller { return caller{ca: e.other, cn: "member-a"} }, method: http.MethodPost, path: "/authenticate",
		wantCode: http.StatusUnauthorized, wantReason: metav1.StatusReasonUnauthorized, wantInBody: "the client certificate is not accepted",
	},
	{
		name: "an app's token minted for another audience", method: http.MethodPost, path: "/authenticate",
		as: func(*httpEnv) caller {
			return caller{bearerFor: func(t *testing.T, e *httpEnv) string { return e.token(t, e.hub, "app", "https://elsewhere.example") }}
		},
		wantCode: http.StatusUnauthorized, wantReason: metav1.StatusReasonUnauthorized, wantInBody: "the bearer token is not accepted as a caller credential",
	},
	{
		name: "a certificate without a policy", as: func(e *httpEnv) caller { return caller{ca: e.ca, cn: "stranger"} }, method: http.MethodPost, path: "/authenticate",
		wantCode: http.StatusForbidden, wantReason: metav1.StatusReasonForbidden, wantInBody: "this caller may not review tokens",
	},
	{
		name: "a policy with endpoints only, reviewing", as: monitor, method: http.MethodPost, path: "/authenticate",
		wantCode: http.StatusForbidden, wantReason: metav1.StatusReasonForbidden, wantInBody: "this caller may not review tokens",
	},
	{name: "/metrics, granted", as: monitor, method: http.MethodGet, path: "/metrics", wantCode: http.StatusOK, wantInBody: "metrics for the granted"},
	{
		name: "/metrics, a reviewer", as: member, method: http.MethodGet, path: "/metrics",
		wantCode: http.StatusForbidden, wantReason: metav1.StatusReasonForbidden, wantInBody: "this caller may not read /metrics",
	},
	{
		name: "/metrics, no credential", as: func(*httpEnv) caller { return caller{} }, method: http.MethodGet, path: "/metrics",
		wantCode: http.StatusUnauthorized, wantReason: metav1.StatusReasonUnauthorized, wantInBody: "a client certificate or a bearer token minted for tokenfed is required",
	},
}

func TestHTTPCallers(t *testing.T) {
	e := newHTTPEnv(t)
	for _, tc := range httpCases {
		t.Run(tc.name, func(t *testing.T) {
			review := e.token(t, e.hub, "web")
			if tc.review != nil {
				review = tc.review(t, e)
			}
			code, header, body := e.send(t, tc.as(e), tc.method, tc.path, review)
			if code != tc.wantCode || !strings.Contains(body, tc.wantInBody) {
				t.Fatalf("got HTTP %d %s, want %d with %q", code, body, tc.wantCode, tc.wantInBody)
			}
			if tc.wantReason != "" {
				wantRefusal(t, header, body, tc.wantCode, tc.wantReason)
			}
		})
	}
}

// TestHTTPCallerOverItsRate: the third review within the app's burst of 2
// is refused with 429 and a Retry-After in whole seconds; a member at the
// same moment is not.
func TestHTTPCallerOverItsRate(t *testing.T) {
	e := newHTTPEnv(t)
	bearer := e.token(t, e.hub, "app", "tokenfed")
	app := caller{bearerFor: func(*testing.T, *httpEnv) string { return bearer }}
	review := e.token(t, e.hub, "web")
	var codes []int
	for range 3 {
		code, header, body := e.send(t, app, http.MethodPost, "/authenticate", review)
		codes = append(codes, code)
		if code == http.StatusTooManyRequests {
			wantRefusal(t, header, body, code, metav1.StatusReasonTooManyRequests)
			if s, err := strconv.Atoi(header.Get("Retry-After")); err != nil || s < 1 || s > 3600 {
				t.Errorf("got Retry-After %q, want whole seconds from 1 to 3600", header.Get("Retry-After"))
			}
		}
		if code, _, body := e.send(t, member(e), http.MethodPost, "/authenticate", review); code != http.StatusOK {
			t.Errorf("a member next to the throttled app: got %d %s, want 200", code, body)
		}
	}
	if want := []int{200, 200, 429}; !slices.Equal(codes, want) {
		t.Errorf("got codes %v, want %v", codes, want)
	}
}

// wantRefusal checks a refusal: JSON, a v1 Status with code and reason.
func wantRefusal(t *testing.T, header http.Header, body string, code int, reason metav1.StatusReason) {
	t.Helper()
	if ct := header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("got Content-Type %q, want application/json", ct)
	}
	var st metav1.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("got body %s, want a metav1.Status: %v", body, err)
	}
	if st.APIVersion != "v1" || st.Kind != "Status" || st.Status != metav1.StatusFailure || st.Code != int32(code) || st.Reason != reason {
		t.Errorf("got %s, want a v1 Status, Failure, code %d, reason %s", body, code, reason)
	}
}
