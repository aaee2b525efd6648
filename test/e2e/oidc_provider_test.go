package e2e

import (
	"crypto/rsa"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/jwstest"
)

const (
	// oidcClientID is the aud of the provider's ID tokens: the client id
	// the provider knows tokenfed (and the member's users) by.
	oidcClientID = "tokenfed"
	oidcKeyID    = "idp-1"
)

// oidcProvider is an OpenID provider over real TLS that serves discovery
// and its JWKS, nothing more: no login flow can run here, so tests sign
// the ID tokens it would issue.
type oidcProvider struct {
	// URL is the issuer, https://127.0.0.1:<port>.
	URL string
	// CAPEM and CAFile hold the serving certificate, which is its own CA.
	CAPEM  string
	CAFile string
	key    *rsa.PrivateKey
}

func startOIDCProvider(t *testing.T) *oidcProvider {
	t.Helper()
	key := jwstest.RSAKey(0)
	mux := http.NewServeMux()
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	p := &oidcProvider{URL: srv.URL, key: key}
	p.CAPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	p.CAFile = filepath.Join(t.TempDir(), "idp-ca.pem")
	if err := os.WriteFile(p.CAFile, []byte(p.CAPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	mux.HandleFunc("/.well-known/openid-configuration", serveJSON(map[string]any{
		"issuer": p.URL, "jwks_uri": p.URL + "/jwks",
		"response_types_supported": []string{"id_token"}, "subject_types_supported": []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
	}))
	mux.HandleFunc("/jwks", serveJSON(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwstest.PublicJWK(key, oidcKeyID, jose.RS256)}}))
	return p
}

func serveJSON(v any) http.HandlerFunc {
	body, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}
}

// idToken is an ID token of the provider for sub, valid for an hour.
func (p *oidcProvider) idToken(t *testing.T, aud, sub string, groups ...string) string {
	t.Helper()
	now := time.Now()
	payload, err := json.Marshal(map[string]any{
		"iss": p.URL, "aud": aud, "sub": sub, "groups": groups,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	if err != nil {
		t.Fatal(err)
	}
	token, err := jwstest.Sign(p.key, jose.RS256, oidcKeyID, string(payload), nil)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// claimMappings are the provider's, unprefixed: tokenfed prefixes on its
// own, and the reference kube-apiserver then shows the raw names.
func (p *oidcProvider) claimMappings() *apiserverv1.ClaimMappings {
	empty := ""
	return &apiserverv1.ClaimMappings{
		Username: apiserverv1.PrefixedClaimOrExpression{Claim: "sub", Prefix: &empty},
		Groups:   apiserverv1.PrefixedClaimOrExpression{Claim: "groups", Prefix: &empty},
	}
}

// tokenfedIssuer is the provider as tokenfed issuer name, trusted through
// its CA file, standing in for reviewAudiences.
func (p *oidcProvider) tokenfedIssuer(name string, reviewAudiences []string) v1alpha1.Issuer {
	return v1alpha1.Issuer{
		Name: name, Type: v1alpha1.IssuerTypeOIDC, URL: p.URL,
		Audiences: []string{oidcClientID}, ReviewAudiences: reviewAudiences,
		Fetch: v1alpha1.Fetch{CAFile: p.CAFile}, ClaimMappings: p.claimMappings(),
	}
}

// authenticationConfigFile writes a kube-apiserver AuthenticationConfiguration
// (--authentication-config) with the provider as its one JWT authenticator,
// with the same audiences and claim mappings tokenfed is given.
func (p *oidcProvider) authenticationConfigFile(t *testing.T) string {
	t.Helper()
	cfg := apiserverv1.AuthenticationConfiguration{
		TypeMeta: metav1.TypeMeta{APIVersion: apiserverv1.SchemeGroupVersion.String(), Kind: "AuthenticationConfiguration"},
		JWT: []apiserverv1.JWTAuthenticator{{
			Issuer:        apiserverv1.Issuer{URL: p.URL, Audiences: []string{oidcClientID}, CertificateAuthority: p.CAPEM},
			ClaimMappings: *p.claimMappings(),
		}},
	}
	data, err := json.Marshal(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "authentication-config.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
