package authn

import (
	"context"
	"crypto/rsa"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/prometheus/client_golang/prometheus"
	authenticationv1 "k8s.io/api/authentication/v1"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/fakeapiserver"
	"github.com/tokenfed/tokenfed/pkg/testing/jwstest"
)

const (
	issuerURL = "https://issuer.test"
	// knownKid names the key in the issuer's static JWKS.
	knownKid = "k1"
)

// testKeys are jwstest's shared keys. stray is a key nobody trusts.
func testKeys() (trusted, stray *rsa.PrivateKey) {
	return jwstest.RSAKey(0), jwstest.RSAKey(1)
}

// trustedJWKS is the issuer's inline key set: the trusted key as knownKid.
func trustedJWKS(testing.TB) string {
	k, _ := testKeys()
	return jwstest.JWKS(jwstest.PublicJWK(k, knownKid, jose.RS256))
}

func sign(t testing.TB, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	out, err := jwstest.SignClaims(key, jose.RS256, kid, claims)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tokenKind is one kind of token the chain may see.
type tokenKind int

const (
	plainToken tokenKind = iota
	podBoundToken
	legacyToken
	unknownKeyToken
	expiredToken
)

func (k tokenKind) String() string {
	return [...]string{"plain", "pod-bound", "legacy", "unknown key", "expired"}[k]
}

// mint returns a token of kind k, as kube-apiserver would sign it.
func (k tokenKind) mint(t testing.TB) string {
	trusted, stray := testKeys()
	now := time.Now()
	claims := boundClaims(now)
	switch k {
	case podBoundToken:
		claims["kubernetes.io"].(map[string]any)["pod"] = map[string]any{"name": "web-0", "uid": "pod-uid"}
	case legacyToken:
		claims = legacyClaims()
	case unknownKeyToken:
		return sign(t, stray, "k2", claims)
	case expiredToken:
		claims["iat"], claims["nbf"], claims["exp"] = now.Add(-3*time.Hour).Unix(), now.Add(-3*time.Hour).Unix(), now.Add(-2*time.Hour).Unix()
	}
	return sign(t, trusted, knownKid, claims)
}

func boundClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss": issuerURL, "sub": "system:serviceaccount:ns:sa", "aud": []string{issuerURL},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "jti-1",
		"kubernetes.io": map[string]any{
			"namespace":      "ns",
			"serviceaccount": map[string]any{"name": "sa", "uid": "sa-uid"},
		},
	}
}

func legacyClaims() map[string]any {
	return map[string]any{
		"iss": "kubernetes/serviceaccount", "sub": "system:serviceaccount:ns:sa",
		"kubernetes.io/serviceaccount/namespace":            "ns",
		"kubernetes.io/serviceaccount/secret.name":          "sa-token-abcde",
		"kubernetes.io/serviceaccount/service-account.name": "sa",
		"kubernetes.io/serviceaccount/service-account.uid":  "sa-uid",
	}
}

// answerFunc answers one decoded review on the wire.
type answerFunc func(w http.ResponseWriter, review *authenticationv1.TokenReview)

// fakeUpstream is an issuing cluster's TokenReview endpoint, under the
// names these tests use.
type fakeUpstream struct {
	*fakeapiserver.Server
	hits *atomic.Int64
}

func newFakeUpstream(t testing.TB, answer answerFunc) *fakeUpstream {
	t.Helper()
	srv := fakeapiserver.Start(t, func(w http.ResponseWriter, _ *http.Request, review *authenticationv1.TokenReview) { answer(w, review) })
	return &fakeUpstream{Server: srv, hits: &srv.Hits}
}

func (f *fakeUpstream) sent() []authenticationv1.TokenReviewSpec { return f.Specs() }

// kubeconfig writes a kubeconfig for f and returns its path.
func (f *fakeUpstream) kubeconfig(t testing.TB) string { return f.Kubeconfig(t) }

// answerUser answers like kube-apiserver for an authenticated token: the
// target audiences are the request's (the token is valid for all of them).
func answerUser(u authenticationv1.UserInfo) answerFunc {
	return func(w http.ResponseWriter, review *authenticationv1.TokenReview) {
		writeReview(w, authenticationv1.TokenReviewStatus{Authenticated: true, User: u, Audiences: review.Spec.Audiences})
	}
}

// saUser is what the issuing cluster says about ns/sa.
var saUser = authenticationv1.UserInfo{
	Username: "system:serviceaccount:ns:sa", UID: "sa-uid",
	Groups: []string{"system:serviceaccounts", "system:serviceaccounts:ns", "system:authenticated"},
}

var (
	answerSA       = answerUser(saUser)
	answerRejected = func(w http.ResponseWriter, _ *authenticationv1.TokenReview) {
		writeReview(w, authenticationv1.TokenReviewStatus{Error: "token has been invalidated"})
	}
	answer500 = func(w http.ResponseWriter, _ *authenticationv1.TokenReview) {
		http.Error(w, "etcd is down", http.StatusInternalServerError)
	}
)

func writeReview(w http.ResponseWriter, st authenticationv1.TokenReviewStatus) {
	fakeapiserver.Respond(w, authenticationv1.TokenReviewSpec{}, st)
}

// hubConfig is one ServiceAccount issuer "hub" with inline keys and, when
// up is set, an upstream with policy.
func hubConfig(t testing.TB, up *fakeUpstream, policy v1alpha1.UpstreamPolicy) *v1alpha1.Configuration {
	t.Helper()
	cfg := &v1alpha1.Configuration{
		Server:  v1alpha1.Server{TLSCertFile: "tls.crt", TLSPrivateKeyFile: "tls.key"},
		Callers: v1alpha1.Callers{AllowAnonymous: true},
		Issuers: []v1alpha1.Issuer{{
			Name: "hub", URL: issuerURL,
			StaticKeys: &v1alpha1.StaticKeys{JWKS: trustedJWKS(t)},
		}},
	}
	if up != nil {
		cfg.Issuers[0].Upstream = &v1alpha1.Upstream{Kubeconfig: up.kubeconfig(t), Policy: policy}
	}
	return cfg
}

// newChain defaults and validates cfg, then builds the chain.
func newChain(t testing.TB, cfg *v1alpha1.Configuration) *Chain {
	t.Helper()
	v1alpha1.SetDefaults(cfg)
	if errs := v1alpha1.Validate(cfg); len(errs) > 0 {
		t.Fatalf("invalid test config: %v", errs.ToAggregate())
	}
	c, err := New(context.Background(), cfg, NewChainMetrics(prometheus.NewRegistry()))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}
