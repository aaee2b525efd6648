package callers_test

// Attacks on caller authentication and authorization, found by a security
// review; each test states the contract it checks, and each failed before
// the fix it guards.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/prometheus/client_golang/prometheus"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/plugin/pkg/authenticator/token/webhook"
	"k8s.io/client-go/rest"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn"
	"github.com/tokenfed/tokenfed/pkg/callers"
	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
	"github.com/tokenfed/tokenfed/pkg/testing/fakeapiserver"
	"github.com/tokenfed/tokenfed/pkg/testing/jwstest"
	"github.com/tokenfed/tokenfed/pkg/testing/staticissuer"
	"github.com/tokenfed/tokenfed/pkg/tokenreview"
)

const (
	advHubURL    = "https://hub.adversary.test"
	advKid       = "hub-k1"
	advCallerAud = "tokenfed"
	advAppUser   = "hub:system:serviceaccount:apps:app"
)

// advKeys are jwstest's shared keys: hub's, and one nobody trusts.
func advKeys() (hub, stray *rsa.PrivateKey) { return jwstest.RSAKey(0), jwstest.RSAKey(1) }

func advJWKS(testing.TB) string {
	k, _ := advKeys()
	return jwstest.JWKS(jwstest.PublicJWK(k, advKid, jose.RS256))
}

// advToken signs a hub service-account token for ns/sa and audiences,
// with key as kid: hub's own, or a forger's.
func advToken(t testing.TB, key *rsa.PrivateKey, kid, ns, sa string, auds []string) string {
	t.Helper()
	is, err := staticissuer.NewWithOptions(staticissuer.Options{Name: "hub", URL: advHubURL, KeyID: kid, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := is.Token(staticissuer.Claims{Namespace: ns, ServiceAccount: sa, Audiences: auds})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// withRandomSignature re-spells tok with a random (wrong) signature of the
// same length, canonically encoded: a distinct forged token per call that
// costs nothing to make.
func withRandomSignature(t testing.TB, tok string) string {
	t.Helper()
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	_, _ = rand.Read(sig)
	return tok[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}

// newAdvUpstream is hub's TokenReview endpoint; it counts every review
// it is asked for and says no to all of them.
func newAdvUpstream(t testing.TB) *fakeapiserver.Server {
	return fakeapiserver.Start(t, func(w http.ResponseWriter, _ *http.Request, _ *authenticationv1.TokenReview) {
		fakeapiserver.Respond(w, authenticationv1.TokenReviewSpec{}, authenticationv1.TokenReviewStatus{Error: "token not recognized"})
	})
}

// advEnv is tokenfed's review stack as pkg/app wires it, in process: the
// real chain, the real gate (caller tokens of hub, minted for "tokenfed"),
// the real review handler.
type advEnv struct {
	chain    *authn.Chain
	gate     *callers.Gate
	handler  http.Handler
	upstream *fakeapiserver.Server
}

// newAdvEnv: one ServiceAccount issuer hub, static keys, an upstream with
// the default policy (onFailure). App tokens of hub are caller
// credentials; the app may review hub tokens.
func newAdvEnv(t testing.TB, mutate func(*v1alpha1.Configuration)) *advEnv {
	t.Helper()
	up := newAdvUpstream(t)
	cfg := &v1alpha1.Configuration{
		Server: v1alpha1.Server{TLSCertFile: "tls.crt", TLSPrivateKeyFile: "tls.key"},
		Issuers: []v1alpha1.Issuer{{
			Name: "hub", URL: advHubURL,
			StaticKeys: &v1alpha1.StaticKeys{JWKS: advJWKS(t)},
			Upstream:   &v1alpha1.Upstream{Kubeconfig: up.Kubeconfig(t)},
		}},
		Callers: v1alpha1.Callers{
			Tokens: &v1alpha1.CallerTokens{Audiences: []string{advCallerAud}, Issuers: []string{"hub"}},
			Authorization: v1alpha1.CallerAuthorization{Static: []v1alpha1.CallerPolicy{
				{Name: "apps", Users: []string{advAppUser}, Issuers: []string{"hub"}},
			}},
		},
	}
	if mutate != nil {
		mutate(cfg)
	}
	st := newReviewStack(t, cfg, nil)
	return &advEnv{chain: st.chain, gate: st.gate, handler: st.reviews, upstream: up}
}

// review sends a v1 TokenReview of token for auds, as a caller whose own
// bearer token is bearer ("" for none).
func (e *advEnv) review(bearer, token string, auds []string) *httptest.ResponseRecorder {
	body, _ := json.Marshal(authenticationv1.TokenReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "TokenReview"},
		Spec:     authenticationv1.TokenReviewSpec{Token: token, Audiences: auds},
	})
	r := httptest.NewRequest(http.MethodPost, "/authenticate", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.TLS = &tls.ConnectionState{}
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, r)
	return w
}

// TestForgedCallerTokenCausesNoUpstreamCall: a caller
// token is a credential, so a request that presents a forged one is an
// unauthenticated request and must not make tokenfed call anyone on its
// behalf (DESIGN: "A review the caller may not ask for costs no signature
// check and no upstream call"; TokenOptions.Router: "an unauthenticated
// request must cost no more than that").
//
// Attack: no certificate, Authorization: Bearer <JWT with iss = hub (a
// caller-token issuer), a kid hub never had, signed by the attacker>.
// Routing lets it through because hub IS a caller-token issuer; hub's
// static keys lack the kid (keyset.ErrUnknownKey), and with the default
// upstream policy onFailure the chain sends the forged token to hub's
// cluster with tokenfed's own upstream credential. Every distinct forged
// token is one upstream TokenReview, from anyone who can reach the port;
// the answer is 401 only afterwards. At upstream.maxConcurrent (32) such
// requests in flight, legitimate reviews that need hub's cluster get 503.
func TestForgedCallerTokenCausesNoUpstreamCall(t *testing.T) {
	e := newAdvEnv(t, nil)
	_, stray := advKeys()
	const n = 20
	for i := range n {
		forged := advToken(t, stray, fmt.Sprint("attacker-kid-", i), "apps", "app", []string{advCallerAud})
		if w := e.review(forged, "irrelevant", nil); w.Code != http.StatusUnauthorized {
			t.Fatalf("forged caller token %d: got %d, want 401", i, w.Code)
		}
	}
	if hits := e.upstream.Hits.Load(); hits != 0 {
		t.Errorf("%d unauthenticated requests with forged caller tokens made %d upstream TokenReview calls to hub's cluster, want 0", n, hits)
	}
}

// TestOpaqueCallerTokenCausesNoUpstreamCall: with
// opaqueTokenUpstream: hub and hub a caller-token issuer (the cluster
// tokenfed runs in, as docs/callers.md suggests), IssuersOf names hub for
// ANY opaque string, so every unauthenticated request with
// "Authorization: Bearer <random>" is forwarded to hub's TokenReview API.
func TestOpaqueCallerTokenCausesNoUpstreamCall(t *testing.T) {
	e := newAdvEnv(t, func(c *v1alpha1.Configuration) { c.OpaqueTokenUpstream = "hub" })
	const n = 20
	for i := range n {
		if w := e.review(fmt.Sprintf("garbage%dgarbage", i), "irrelevant", nil); w.Code != http.StatusUnauthorized {
			t.Fatalf("random bearer %d: got %d, want 401", i, w.Code)
		}
	}
	if hits := e.upstream.Hits.Load(); hits != 0 {
		t.Errorf("%d unauthenticated requests with random opaque bearer strings made %d upstream TokenReview calls, want 0", n, hits)
	}
}

// TestForgedCallerTokensEvictNoCachedAnswers: the
// review cache is shared by caller tokens and reviewed tokens, and a forged
// caller token's failed verification is cached (failureTTL) like any
// review's. So an unauthenticated client that sends enough distinct
// forged bearer tokens of a caller-token issuer (a valid token with its
// signature replaced by random bytes: free to make) evicts every cached
// answer: legitimate callers' own tokens and the reviews of every member,
// which then cost signature checks and, for upstream policies always /
// whenBound, upstream calls again. Each forged token also costs an RSA
// verification before the 401.
func TestForgedCallerTokensEvictNoCachedAnswers(t *testing.T) {
	e := newAdvEnv(t, func(c *v1alpha1.Configuration) {
		c.Cache.MaxEntries = 128 // 4 per shard: the attack needs MaxEntries-ish requests
		c.Issuers[0].Upstream = nil
	})
	hub, _ := advKeys()
	app := advToken(t, hub, advKid, "apps", "app", []string{advCallerAud})
	member := advToken(t, hub, advKid, "apps", "web", []string{advHubURL})
	if w := e.review(app, member, nil); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"authenticated":true`) {
		t.Fatalf("legitimate review: got %d %s", w.Code, w.Body.String())
	}
	if _, ok := e.chain.CallerTokens().Cached(app, []string{advCallerAud}); !ok {
		t.Fatal("the app's own token is not cached after its review")
	}
	if _, ok := e.chain.Cached(member, nil); !ok {
		t.Fatal("the reviewed token is not cached after its review")
	}

	base := advToken(t, hub, advKid, "apps", "attacker", []string{advCallerAud})
	const n = 2000
	for i := range n {
		if w := e.review(withRandomSignature(t, base), "irrelevant", nil); w.Code != http.StatusUnauthorized {
			t.Fatalf("forged %d: got %d, want 401", i, w.Code)
		}
	}
	_, appCached := e.chain.CallerTokens().Cached(app, []string{advCallerAud})
	_, memberCached := e.chain.Cached(member, nil)
	if !appCached || !memberCached {
		t.Errorf("after %d unauthenticated requests with forged caller tokens: the app's own token cached=%v, the member's reviewed token cached=%v; want both still cached (an unauthenticated client must not be able to flush the cache)", n, appCached, memberCached)
	}
}

// TestExpiredCallerCertRefusedOnKeptAliveConnection: the caller
// certificate is verified once, in the handshake, and the converted user
// is used for every later request on the connection. kube-apiserver's
// webhook client keeps connections open indefinitely while it is busy
// (IdleTimeout only closes idle ones), so a member whose certificate
// expired (or whose CA was removed from clientCAFile to revoke it) keeps
// being admitted for as long as it keeps the connection busy.
// kube-apiserver's own x509 authenticator, whose conversion tokenfed
// reuses, checks the chain (and NotAfter) on every request.
func TestExpiredCallerCertRefusedOnKeptAliveConnection(t *testing.T) {
	ca, err := devcerts.NewCA("adv-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	verifyOpts := func() (x509.VerifyOptions, bool) { return x509.VerifyOptions{Roots: roots}, true }
	gate, err := callers.NewGate(callers.GateOptions{
		ClientCA: verifyOpts, Router: nopRouter{}, Metrics: callers.NewMetrics(prometheus.NewRegistry()),
		Authorization: v1alpha1.CallerAuthorization{Mode: v1alpha1.CallerAuthorizationStatic, Static: []v1alpha1.CallerPolicy{
			{Name: "members", Users: []string{"member-a"}, Issuers: []string{v1alpha1.AllIssuers}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(gate.Reviews(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("admitted"))
	})))
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	defer srv.Close()

	const validity = 3 * time.Second
	certPEM, keyPEM, err := ca.Issue("member-a", nil, nil, validity)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	notAfter := time.Now().Add(validity)
	client := srv.Client()
	tr := client.Transport.(*http.Transport)
	tr.TLSClientConfig.Certificates = []tls.Certificate{pair}
	tr.IdleConnTimeout = time.Minute

	post := func() (int, string) {
		t.Helper()
		resp, err := client.Post(srv.URL+"/authenticate", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	if code, body := post(); code != http.StatusOK {
		t.Fatalf("with a valid certificate: got %d %s, want 200", code, body)
	}
	// Keep the connection busy until well after the certificate expired.
	for time.Now().Before(notAfter.Add(time.Second)) {
		post()
		time.Sleep(200 * time.Millisecond)
	}
	if code, body := post(); code != http.StatusUnauthorized {
		t.Errorf("%v after the caller certificate expired, on the kept-alive connection: got %d %q, want 401", time.Since(notAfter).Round(time.Second), code, body)
	}
	// A new connection is refused too, with the same 401.
	tr.CloseIdleConnections()
	if code, body := post(); code != http.StatusUnauthorized {
		t.Errorf("on a new connection after the caller certificate expired: got %d %q, want 401", code, body)
	}
}

type nopRouter struct{}

func (nopRouter) Cached(string, []string) (*authenticator.Response, bool) { return nil, false }
func (nopRouter) IssuersOf(string) []string                               { return nil }

// TestDelegatedOutageIsNotMultipliedByRetries: DESIGN: "Return 5xx
// only for real server faults. kube-apiserver retries a 5xx up to 5 times,
// so every 5xx multiplies the load." In Delegated mode, when the authorizing
// cluster is down, a review gets 503. It used to carry "Retry-After: 1",
// and kube-apiserver's webhook client is a client-go REST client, which
// itself retries any 429/5xx carrying Retry-After up to 10 times (sleeping
// Retry-After each time), inside each of the webhook's own backoff
// attempts: one member review became 11 requests to tokenfed over 10 s
// (each a SubjectAccessReview attempt against the cluster already down),
// with the user's request on the member hanging all along. The same
// answer goes out for an unavailable upstream.
//
// The member here is k8s.io/apiserver's token webhook authenticator, the
// exact client kube-apiserver uses, with kube-apiserver's default backoff.
func TestDelegatedOutageIsNotMultipliedByRetries(t *testing.T) {
	ca, err := devcerts.NewCA("adv-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	verifyOpts := func() (x509.VerifyOptions, bool) { return x509.VerifyOptions{Roots: roots}, true }
	// The authorizing cluster is down: nothing listens there.
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	gate, err := callers.NewGate(callers.GateOptions{
		ClientCA: verifyOpts, Router: hubRouter{}, Metrics: callers.NewMetrics(prometheus.NewRegistry()),
		Authorization: v1alpha1.CallerAuthorization{Mode: v1alpha1.CallerAuthorizationDelegated, Delegated: &v1alpha1.DelegatedAuthorization{
			AllowCacheTTL: metav1.Duration{Duration: time.Minute}, DenyCacheTTL: metav1.Duration{Duration: time.Second},
		}},
		Delegated: &rest.Config{Host: downURL},
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	var hits atomic.Int64
	review := gate.Reviews(tokenreview.NewHandler(authenticator.TokenFunc(func(context.Context, string) (*authenticator.Response, bool, error) {
		t.Error("the chain was asked although the caller was not authorized")
		return nil, false, nil
	}), gate, 1<<20, "", tokenreview.NewMetrics(reg)))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		review.ServeHTTP(w, r)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	defer srv.Close()

	certPEM, keyPEM, err := ca.Issue("member-a", nil, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	member, err := webhook.New(&rest.Config{
		Host: srv.URL + "/authenticate",
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}),
			CertData: certPEM, KeyData: keyPEM,
		},
	}, "v1", nil, wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}) // kube-apiserver's DefaultAuthWebhookRetryBackoff
	if err != nil {
		t.Fatal(err)
	}
	const window = 12 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), window)
	defer cancel()
	start := time.Now()
	_, ok, err := member.AuthenticateToken(ctx, "hub-token-of-a-user")
	if ok {
		t.Fatal("the member authenticated a token while tokenfed could not authorize its caller")
	}
	// 1 request plus the webhook's retries: at most 5 retries per DESIGN.
	if n := hits.Load(); n > 6 {
		t.Errorf("one review by a member while the authorizing cluster is down: tokenfed received %d requests within %v (the member's call ended with err=%v after %v, the user's request hanging all along); want at most 6 (kube-apiserver's 5 webhook retries)", n, window, err, time.Since(start).Round(100*time.Millisecond))
	}
}

// hubRouter routes every token to hub.
type hubRouter struct{}

func (hubRouter) Cached(string, []string) (*authenticator.Response, bool) { return nil, false }
func (hubRouter) IssuersOf(string) []string                               { return []string{"hub"} }
