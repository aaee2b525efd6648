package authn

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/prometheus/client_golang/prometheus"
	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn/keyset"
	"github.com/tokenfed/tokenfed/pkg/authn/route"
	"github.com/tokenfed/tokenfed/pkg/mapping"
)

const (
	idpURL  = "https://idp.test"
	edgeKid = "edge-key"
)

// federation is three issuers: hub and edge share one issuer URL and are
// told apart by kid; idp is an OIDC provider.
func federation(t testing.TB) *v1alpha1.Configuration {
	t.Helper()
	trusted, stray := testKeys()
	jwks := func(key any, kid string) string { return jwksOf(t, key, kid) }
	return &v1alpha1.Configuration{
		Server: v1alpha1.Server{TLSCertFile: "tls.crt", TLSPrivateKeyFile: "tls.key"},
		Issuers: []v1alpha1.Issuer{
			{Name: "hub", URL: issuerURL, StaticKeys: &v1alpha1.StaticKeys{JWKS: trustedJWKS(t)}},
			{Name: "edge", URL: issuerURL, StaticKeys: &v1alpha1.StaticKeys{JWKS: jwks(stray.Public(), edgeKid)}},
			{
				Name: "idp", Type: v1alpha1.IssuerTypeOIDC, URL: idpURL, Audiences: []string{"kubernetes"},
				StaticKeys: &v1alpha1.StaticKeys{JWKS: jwks(trusted.Public(), "idp-key")},
			},
		},
	}
}

// jwksOf is a static JWKS holding key as kid.
func jwksOf(t testing.TB, key any, kid string) string {
	t.Helper()
	doc, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: kid, Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(doc)
}

func oidcClaims(now time.Time) map[string]any {
	return map[string]any{"iss": idpURL, "sub": "alice", "aud": "kubernetes", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

var routingCases = []struct {
	name       string
	token      func(t testing.TB) string
	wantIssuer string
	wantUser   string
	wantErr    error
}{
	{name: "hub's kid goes to hub", token: plainToken.mint, wantIssuer: "hub", wantUser: hubUser},
	{
		name: "edge's kid on the shared iss goes to edge",
		token: func(t testing.TB) string {
			_, stray := testKeys()
			return sign(t, stray, edgeKid, boundClaims(time.Now()))
		},
		wantIssuer: "edge", wantUser: "edge:system:serviceaccount:ns:sa",
	},
	{
		name: "OIDC token, mapped with the default sub claim and prefix",
		token: func(t testing.TB) string {
			trusted, _ := testKeys()
			return sign(t, trusted, "idp-key", oidcClaims(time.Now()))
		},
		wantIssuer: "idp", wantUser: "idp:alice",
	},
	{
		name: "OIDC token with an empty sub never becomes the bare prefix",
		token: func(t testing.TB) string {
			trusted, _ := testKeys()
			claims := oidcClaims(time.Now())
			claims["sub"] = ""
			return sign(t, trusted, "idp-key", claims)
		},
		wantErr: mapping.ErrEmptyUsername,
	},
	{
		name: "a kid neither sharing issuer holds",
		token: func(t testing.TB) string {
			trusted, _ := testKeys()
			return sign(t, trusted, "nobody", boundClaims(time.Now()))
		},
		wantErr: route.ErrNoKeyMatch,
	},
	{
		name: "hub's kid on a token signed by edge's key",
		token: func(t testing.TB) string {
			_, stray := testKeys()
			return sign(t, stray, knownKid, boundClaims(time.Now()))
		},
		wantErr: keyset.ErrSignature,
	},
	{
		name: "an issuer nobody configured",
		token: func(t testing.TB) string {
			trusted, _ := testKeys()
			claims := boundClaims(time.Now())
			claims["iss"] = "https://evil.test"
			return sign(t, trusted, knownKid, claims)
		},
		wantErr: ErrUntrustedIssuer,
	},
	{name: "JWT-shaped garbage", token: func(testing.TB) string { return "eyJ.e30.sig" }, wantErr: route.ErrMalformed},
	{name: "opaque token without an opaque upstream", token: func(testing.TB) string { return "opaque" }, wantErr: errOpaque},
}

func TestChainRouting(t *testing.T) {
	c := newChain(t, federation(t))
	for _, tc := range routingCases {
		t.Run(tc.name, func(t *testing.T) {
			resp, ok, err := c.AuthenticateToken(context.Background(), tc.token(t))

			if tc.wantErr == nil {
				if !ok || err != nil {
					t.Fatalf("got ok=%v err=%v, want %s", ok, err, tc.wantUser)
				}
				if got := resp.User.GetName(); got != tc.wantUser {
					t.Errorf("got user %q, want %q", got, tc.wantUser)
				}
				if got := resp.User.GetExtra()[mapping.IssuerExtraKey]; len(got) != 1 || got[0] != tc.wantIssuer {
					t.Errorf("got issuer extra %q, want [%s]", got, tc.wantIssuer)
				}
				return
			}
			if ok || !errors.Is(err, tc.wantErr) {
				t.Errorf("got ok=%v err=%v, want %v", ok, err, tc.wantErr)
			}
		})
	}
}

// New fails for what validation cannot see: unreadable files and keys.
func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(cfg *v1alpha1.Configuration)
	}{
		{name: "kubeconfig that does not exist", mutate: func(cfg *v1alpha1.Configuration) {
			cfg.Issuers[0].Upstream = &v1alpha1.Upstream{Kubeconfig: filepath.Join(t.TempDir(), "missing")}
		}},
		{name: "inline JWKS that is not a key set", mutate: func(cfg *v1alpha1.Configuration) {
			cfg.Issuers[0].StaticKeys.JWKS = "{not json"
		}},
		{name: "static key file that does not exist", mutate: func(cfg *v1alpha1.Configuration) {
			cfg.Issuers[0].StaticKeys = &v1alpha1.StaticKeys{File: filepath.Join(t.TempDir(), "missing")}
		}},
		{name: "fetch CA file that does not exist", mutate: func(cfg *v1alpha1.Configuration) {
			cfg.Issuers[0].Fetch.CAFile = filepath.Join(t.TempDir(), "missing")
		}},
		{name: "OIDC issuer with an invalid claim validation rule", mutate: func(cfg *v1alpha1.Configuration) {
			cfg.Issuers[2].ClaimValidationRules = append(cfg.Issuers[2].ClaimValidationRules,
				apiserverv1.ClaimValidationRule{Expression: "claims.sub ===", Message: "broken"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := federation(t)
			tc.mutate(cfg)
			v1alpha1.SetDefaults(cfg)
			if _, err := New(context.Background(), cfg, prometheus.NewRegistry()); err == nil {
				t.Errorf("got no error, want one")
			}
		})
	}
}
