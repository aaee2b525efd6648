package callers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn/mapping"
	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
)

// certFor issues a client certificate from ca with CN cn, O orgs and an
// optional URI SAN.
func certFor(t testing.TB, ca *devcerts.CA, cn string, orgs []string, uri string) *x509.Certificate {
	t.Helper()
	certPEM, _, err := ca.Issue(cn, orgs, nil, 3600e9)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if uri != "" {
		u, _ := url.Parse(uri)
		c.URIs = append(c.URIs, u)
	}
	return c
}

// fakeRouter routes "hub-*" tokens to hub and "edge-*" to edge, and
// counts calls. Tokens named "cached-ISSUER-*" have an authenticated
// answer of ISSUER cached, so they are not routed.
type fakeRouter struct{ calls int }

func (f *fakeRouter) Cached(token string, _ []string) (*authenticator.Response, bool) {
	rest, found := strings.CutPrefix(token, "cached-")
	if !found {
		return nil, false
	}
	name, _, _ := strings.Cut(rest, "-")
	return &authenticator.Response{User: &user.DefaultInfo{Name: "someone", Extra: map[string][]string{mapping.IssuerExtraKey: {name}}}}, true
}

func (f *fakeRouter) IssuersOf(token string) []string {
	f.calls++
	name, _, found := strings.Cut(token, "-")
	switch {
	case !found:
		return nil
	case name == "shared":
		// A kid the issuers sharing an iss have yet to settle.
		return []string{"hub", "edge"}
	}
	return []string{name}
}

// callerTokenRouter routes caller tokens: "caller-*" to local (whose tokens
// may be caller credentials), "foreign-*" to edge. It holds a cached answer
// for "cached-ISSUER" tokens: the edge-app service account, from ISSUER.
type callerTokenRouter struct{}

func (callerTokenRouter) Cached(token string, _ []string) (*authenticator.Response, bool) {
	issuer, found := strings.CutPrefix(token, "cached-")
	if !found {
		return nil, false
	}
	return &authenticator.Response{User: &user.DefaultInfo{
		Name:  "system:serviceaccount:apps:edge-app",
		Extra: map[string][]string{mapping.IssuerExtraKey: {issuer}},
	}}, true
}

func (callerTokenRouter) IssuersOf(token string) []string {
	switch {
	case strings.HasPrefix(token, "caller-"):
		return []string{"local"}
	case strings.HasPrefix(token, "foreign-"):
		return []string{"edge"}
	}
	return nil
}

// fakeChain accepts "caller-ok" for tokenfed's audience as a token of
// issuer local, and counts reviews.
type fakeChain struct{ reviews int }

func (f *fakeChain) AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	f.reviews++
	auds, _ := authenticator.AudiencesFrom(ctx)
	if token != "caller-ok" || len(auds) != 1 || auds[0] != "tokenfed" {
		return nil, false, errors.New("token rejected")
	}
	return &authenticator.Response{User: &user.DefaultInfo{
		Name: "system:serviceaccount:apps:edge-app", Extra: map[string][]string{mapping.IssuerExtraKey: {"local"}},
	}}, true, nil
}

type gateFixture struct {
	gate    *Gate
	router  *fakeRouter
	chain   *fakeChain
	ca      *devcerts.CA
	metrics *Metrics
}

func newGate(t *testing.T, authz v1alpha1.CallerAuthorization) *gateFixture {
	t.Helper()
	ca, err := devcerts.NewCA("test-ca", 3600e9)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	f := &gateFixture{router: &fakeRouter{}, chain: &fakeChain{}, ca: ca, metrics: NewMetrics(prometheus.NewRegistry())}
	f.gate, err = NewGate(GateOptions{
		ClientCA:      func() (x509.VerifyOptions, bool) { return x509.VerifyOptions{Roots: pool}, true },
		Tokens:        &TokenOptions{Reviewer: f.chain, Router: callerTokenRouter{}, Audiences: authenticator.Audiences{"tokenfed"}, Issuers: []string{"local"}},
		Authorization: authz, Router: f.router, Metrics: f.metrics,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// request is a review request as a caller with cert (nil: none) and
// bearer token ("" none) sends it. The certificate counts as verified: the
// TLS handshake verifies it (VerifyConnection), which test/integration
// covers with certificates of other CAs.
func request(cert *x509.Certificate, bearer string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/authenticate", nil)
	r.TLS = &tls.ConnectionState{}
	if cert != nil {
		r.TLS.PeerCertificates = []*x509.Certificate{cert}
	}
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	return r
}

var staticPolicies = v1alpha1.CallerAuthorization{Mode: v1alpha1.CallerAuthorizationStatic, Static: []v1alpha1.CallerPolicy{
	{Name: "member-a", Users: []string{"member-a"}, Issuers: []string{"hub"}, Endpoints: []string{"/metrics"}},
	{Name: "spiffe", URIs: []string{"spiffe://corp/app"}, Issuers: []string{v1alpha1.AllIssuers}, Audiences: []string{"https://app.example"}},
	{Name: "apps", Users: []string{"system:serviceaccount:apps:edge-app"}, Issuers: []string{"edge"}, RateLimit: &v1alpha1.RateLimit{QPS: 0.001, Burst: 2}},
	{Name: "readers", Groups: []string{"monitoring"}, Endpoints: []string{"/metrics", "/readyz"}},
}}

// reviewCases: what the gate and the guard answer, before any review is
// authenticated.
var reviewCases = []struct {
	name        string
	cn          string // "" = no certificate
	orgs        []string
	uri, bearer string
	token       string
	audiences   []string
	wantCode    int   // from the gate; 0 = passed to the handler
	wantCheck   error // from the guard
	wantRouting int
	wantAnswer  bool // the guard answers with the cached answer
}{
	{name: "no credential", wantCode: http.StatusUnauthorized},
	{name: "a bearer token tokenfed does not accept", bearer: "caller-bad", wantCode: http.StatusUnauthorized},
	{name: "a certificate that matches no policy", cn: "stranger", wantCode: http.StatusForbidden},
	{name: "a policy with endpoints only", cn: "prometheus", orgs: []string{"monitoring"}, wantCode: http.StatusForbidden},
	{name: "member-a, hub token", cn: "member-a", token: "hub-tok", wantRouting: 1},
	{name: "member-a, edge token: no grant, no verification", cn: "member-a", token: "edge-tok", wantCheck: ErrIssuerNotGranted, wantRouting: 1},
	{name: "member-a, a token hub or edge may have to settle by refetching", cn: "member-a", token: "shared-tok", wantCheck: ErrIssuerNotGranted, wantRouting: 1},
	{name: "member-a, a token no issuer takes goes on to be refused by the chain", cn: "member-a", token: "nobody", wantRouting: 1},
	{name: "member-a, a cached answer of hub: no routing, and it is the answer", cn: "member-a", token: "cached-hub-tok", wantAnswer: true},
	{name: "member-a, a cached answer of edge: no grant, no routing", cn: "member-a", token: "cached-edge-tok", wantCheck: ErrIssuerNotGranted},
	{name: "SPIFFE ID, every issuer, without routing", cn: "app", uri: "spiffe://corp/app", token: "edge-tok", audiences: []string{"https://app.example"}},
	{name: "SPIFFE ID, an audience it was not granted", cn: "app", uri: "spiffe://corp/app", token: "edge-tok", audiences: []string{"https://other.example"}, wantCheck: ErrAudienceNotGranted},
	{name: "SPIFFE ID, no audiences at all", cn: "app", uri: "spiffe://corp/app", token: "edge-tok", wantCheck: ErrAudiencesRequired},
	{name: "an app with its own token, edge token", bearer: "caller-ok", token: "edge-tok", wantRouting: 1},
	{name: "an app with its own token, hub token", bearer: "caller-ok", token: "hub-tok", wantCheck: ErrIssuerNotGranted, wantRouting: 1},
}

func TestGateReviews(t *testing.T) {
	for _, tc := range reviewCases {
		t.Run(tc.name, func(t *testing.T) {
			f := newGate(t, staticPolicies)
			var cert *x509.Certificate
			switch tc.cn {
			case "":
			default:
				cert = certFor(t, f.ca, tc.cn, tc.orgs, tc.uri)
			}
			var checkErr error
			var answer *authenticator.Response
			passed := false
			h := f.gate.Reviews(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				passed = true
				answer, checkErr = f.gate.Check(r.Context(), tc.token, tc.audiences)
			}))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, request(cert, tc.bearer))

			if tc.wantCode != 0 {
				if passed || w.Code != tc.wantCode {
					t.Fatalf("got code %d passed=%v, want %d", w.Code, passed, tc.wantCode)
				}
				return
			}
			if !passed || !errors.Is(checkErr, tc.wantCheck) {
				t.Fatalf("got passed=%v code %d check %v, want passed with check %v", passed, w.Code, checkErr, tc.wantCheck)
			}
			if f.router.calls != tc.wantRouting {
				t.Errorf("got %d routing calls, want %d", f.router.calls, tc.wantRouting)
			}
			if (answer != nil) != tc.wantAnswer {
				t.Errorf("got answer %v, want one: %v", answer, tc.wantAnswer)
			}
		})
	}
}

// TestGateRateLimit: a caller over its rate gets 429 with Retry-After;
// another policy's caller at the same moment does not.
func TestGateRateLimit(t *testing.T) {
	f := newGate(t, staticPolicies)
	h := f.gate.Reviews(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	member := certFor(t, f.ca, "member-a", nil, "")
	codes := []int{}
	for range 3 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, request(nil, "caller-ok"))
		codes = append(codes, w.Code)
		if w.Code == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
			t.Errorf("got 429 without Retry-After")
		}
		other := httptest.NewRecorder()
		h.ServeHTTP(other, request(member, ""))
		if other.Code != http.StatusOK {
			t.Errorf("got %d for another policy's caller, want 200", other.Code)
		}
	}
	if want := []int{200, 200, 429}; !equalInts(codes, want) {
		t.Fatalf("got codes %v, want %v", codes, want)
	}
	if got := testutil.ToFloat64(f.metrics.decisions.WithLabelValues("apps", OutcomeThrottled)); got != 1 {
		t.Errorf("got %v throttled decisions for policy apps, want 1", got)
	}
}

func TestGateEndpoints(t *testing.T) {
	f := newGate(t, staticPolicies)
	for _, tc := range []struct {
		cn, path string
		orgs     []string
		want     int
	}{
		{cn: "member-a", path: "/metrics", want: 200},
		{cn: "member-a", path: "/debug/pprof", want: 403},
		{cn: "prometheus", orgs: []string{"monitoring"}, path: "/metrics", want: 200},
		{cn: "stranger", path: "/metrics", want: 403},
		{path: "/metrics", want: 401},
	} {
		var cert *x509.Certificate
		if tc.cn != "" {
			cert = certFor(t, f.ca, tc.cn, tc.orgs, "")
		}
		w := httptest.NewRecorder()
		f.gate.Endpoint(tc.path, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(w, request(cert, ""))
		if w.Code != tc.want {
			t.Errorf("%s %s: got %d, want %d", tc.cn, tc.path, w.Code, tc.want)
		}
	}
}

// Without a static list every authenticated caller may do everything, and
// no routing is needed.
func TestGateWithoutPolicies(t *testing.T) {
	f := newGate(t, v1alpha1.CallerAuthorization{Mode: v1alpha1.CallerAuthorizationStatic})
	var checkErr error
	h := f.gate.Reviews(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, checkErr = f.gate.Check(r.Context(), "edge-tok", nil)
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, request(certFor(t, f.ca, "anyone", nil, ""), ""))
	if w.Code != 200 || checkErr != nil || f.router.calls != 0 {
		t.Fatalf("got %d check %v routing %d, want 200, nil, 0", w.Code, checkErr, f.router.calls)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A bearer token of an issuer whose tokens are not caller credentials is
// refused before it is reviewed: no signature check, key fetch or upstream
// call for a request that has not authenticated.
func TestGateForeignBearerCostsNoReview(t *testing.T) {
	for _, bearer := range []string{"foreign-token", "not-routable"} {
		f := newGate(t, staticPolicies)
		w := httptest.NewRecorder()
		f.gate.Reviews(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(w, request(nil, bearer))
		if w.Code != http.StatusUnauthorized || f.chain.reviews != 0 {
			t.Errorf("%s: got %d with %d reviews, want 401 with 0", bearer, w.Code, f.chain.reviews)
		}
	}
}

// A cached answer for a caller's own token is used as it is, without a
// second review, and only when its issuer's tokens are caller credentials.
func TestGateCachedBearer(t *testing.T) {
	for _, tc := range []struct {
		bearer   string
		wantCode int
	}{
		{bearer: "cached-local", wantCode: http.StatusOK},
		{bearer: "cached-edge", wantCode: http.StatusUnauthorized},
	} {
		f := newGate(t, staticPolicies)
		w := httptest.NewRecorder()
		f.gate.Reviews(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(w, request(nil, tc.bearer))
		if w.Code != tc.wantCode || f.chain.reviews != 0 {
			t.Errorf("%s: got %d with %d reviews, want %d with 0", tc.bearer, w.Code, f.chain.reviews, tc.wantCode)
		}
	}
}

// TestUnauthenticatedMessages: a 401 says which credential failed, so a
// caller that sent a bearer token or a certificate is not told to send one.
func TestUnauthenticatedMessages(t *testing.T) {
	f := newGate(t, staticPolicies)
	other, err := devcerts.NewCA("other-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		cert   *x509.Certificate
		bearer string
		want   string
	}{
		{name: "nothing", want: "a client certificate or a bearer token minted for tokenfed is required"},
		{name: "a bearer token not accepted", bearer: "caller-bad", want: "the bearer token is not accepted as a caller credential"},
		{name: "a certificate of another CA", cert: certFor(t, other, "member-a", nil, ""), want: "the client certificate is not accepted"},
	} {
		w := httptest.NewRecorder()
		f.gate.Reviews(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(w, request(tc.cert, tc.bearer))
		if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), tc.want) {
			t.Errorf("%s: got %d %s, want 401 with %q", tc.name, w.Code, w.Body.String(), tc.want)
		}
	}
}
