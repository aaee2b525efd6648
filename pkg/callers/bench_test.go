package callers

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"net/http"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apiserver/pkg/authentication/authenticator"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn"
	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
	"github.com/tokenfed/tokenfed/pkg/testing/jwstest"
	"github.com/tokenfed/tokenfed/pkg/testing/staticissuer"
)

// benchIssuers are two service-account issuers with inline keys: hub is
// granted, edge is configured but not, so a grant of [hub] has to be
// checked per review.
const (
	benchHubURL  = "https://hub.bench.test"
	benchEdgeURL = "https://edge.bench.test"
	benchKid     = "bench"
)

// benchChain is tokenfed's real chain over the two issuers.
func benchChain(b *testing.B, key *rsa.PrivateKey) *authn.Chain {
	b.Helper()
	doc := jwstest.JWKS(jwstest.PublicJWK(key, benchKid, jose.RS256))
	cfg := &v1alpha1.Configuration{
		Server:  v1alpha1.Server{TLSCertFile: "tls.crt", TLSPrivateKeyFile: "tls.key", ClientCAFile: "ca.crt"},
		Callers: v1alpha1.Callers{Tokens: &v1alpha1.CallerTokens{Audiences: []string{"tokenfed"}, Issuers: []string{"hub"}}},
		Issuers: []v1alpha1.Issuer{
			{Name: "hub", URL: benchHubURL, StaticKeys: &v1alpha1.StaticKeys{JWKS: doc}},
			{Name: "edge", URL: benchEdgeURL, StaticKeys: &v1alpha1.StaticKeys{JWKS: doc}},
		},
	}
	v1alpha1.SetDefaults(cfg)
	if errs := v1alpha1.Validate(cfg); len(errs) > 0 {
		b.Fatal(errs.ToAggregate())
	}
	c, err := authn.New(context.Background(), cfg, authn.NewChainMetrics(prometheus.NewRegistry()))
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// benchToken is a pod-bound service-account token of the hub, about the
// size kube-apiserver mints (1.1 KB).
func benchToken(b *testing.B, key *rsa.PrivateKey, aud string) string {
	b.Helper()
	hub, err := staticissuer.NewWithOptions(staticissuer.Options{Name: "hub", URL: benchHubURL, KeyID: benchKid, Key: key})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := hub.Token(staticissuer.Claims{
		Namespace: "bench", ServiceAccount: "app", Audiences: []string{aud}, ID: "6f1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
		Node: &staticissuer.Object{Name: "node-1", UID: "0f0e0d0c-0b0a-4908-8706-050403020100"},
		Pod:  &staticissuer.Object{Name: "app-5d8f7c9b6d-x2x7q", UID: "8a1f0e2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"},
	})
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header       { return d.h }
func (*discard) Write(p []byte) (int, error) { return len(p), nil }
func (*discard) WriteHeader(int)             {}

// BenchmarkCachedReview is what the callers layer adds to a cached review,
// as the review handler runs it: Gate.Reviews, Gate.Check, then the chain
// (a cache hit) unless Check answered from the cache. HTTP and JSON are left out; test/bench measures them.
// The certificate is the same *x509.Certificate on every request, as on
// one kept-alive connection.
func BenchmarkCachedReview(b *testing.B) {
	key := jwstest.RSAKey(0)
	ca, err := devcerts.NewCA("bench-ca", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	clientCA := func() (x509.VerifyOptions, bool) { return x509.VerifyOptions{Roots: pool}, true }
	cert := certFor(b, ca, "kube-apiserver", []string{"tokenfed:callers"}, "")
	grants := v1alpha1.CallerAuthorization{Mode: v1alpha1.CallerAuthorizationStatic, Static: []v1alpha1.CallerPolicy{
		{Name: "member", Users: []string{"kube-apiserver"}, Issuers: []string{"hub"}},
		{Name: "app", Users: []string{"hub:system:serviceaccount:bench:app"}, Issuers: []string{"hub"}},
	}}
	for _, bc := range []struct {
		name   string
		gate   bool
		authz  v1alpha1.CallerAuthorization
		cert   *x509.Certificate
		bearer bool
	}{
		{name: "no gate", cert: cert},
		{name: "certificate, every issuer", gate: true, authz: v1alpha1.CallerAuthorization{Mode: v1alpha1.CallerAuthorizationStatic}, cert: cert},
		{name: "certificate, issuer grant", gate: true, authz: grants, cert: cert},
		{name: "bearer, issuer grant", gate: true, authz: grants, bearer: true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			chain := benchChain(b, key)
			token := benchToken(b, key, benchHubURL)
			bearer := ""
			if bc.bearer {
				bearer = benchToken(b, key, "tokenfed")
			}
			gate, err := NewGate(GateOptions{
				ClientCA:      clientCA,
				Tokens:        &TokenOptions{Reviewer: chain, Router: chain, Audiences: authenticator.Audiences{"tokenfed"}, Issuers: []string{"hub"}},
				Authorization: bc.authz, Router: chain, Metrics: NewMetrics(prometheus.NewRegistry()),
			})
			if err != nil {
				b.Fatal(err)
			}
			review := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if bc.gate {
					answer, err := gate.Check(r.Context(), token, nil)
					if err != nil {
						b.Fatal(err)
					}
					if answer != nil { // the review handler answers with it
						w.WriteHeader(http.StatusOK)
						return
					}
				}
				if _, ok, err := chain.AuthenticateToken(r.Context(), token); !ok {
					b.Fatalf("got %v, want the token authenticated", err)
				}
				w.WriteHeader(http.StatusOK)
			})
			h := http.Handler(review)
			if bc.gate {
				h = gate.Reviews(review)
			}
			req := request(bc.cert, "")
			// bearertoken removes the header it accepted: set it again for
			// every request, as a new request would carry it.
			auth := []string{"Bearer " + bearer}
			w := &discard{h: http.Header{}}
			serve := func() {
				if bearer != "" {
					req.Header["Authorization"] = auth
				}
				h.ServeHTTP(w, req)
			}
			serve() // fills the cache with both tokens
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				serve()
			}
		})
	}
}
