// Package staticissuer is a Kubernetes service-account issuer for tests
// that tokenfed trusts through inline keys (issuers[].staticKeys): no
// server, no control plane. It mints tokens shaped as kube-apiserver mints
// them, and registers each with secretscan.
package staticissuer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/jwstest"
)

// Issuer signs service-account tokens with one ES256 key.
type Issuer struct {
	// Name is the tokenfed issuer name; answers carry the prefix Name+":".
	Name string
	// URL is the iss of its tokens, and their audience by default.
	URL string
	key *ecdsa.PrivateKey
}

const kid = "static-1"

// New returns an issuer with a fresh key and the URL https://NAME.issuer.test.
func New(name string) (*Issuer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return &Issuer{Name: name, URL: "https://" + name + ".issuer.test", key: key}, nil
}

// Config is the tokenfed issuer entry: type ServiceAccount, the public
// key inline, ES256 only.
func (is *Issuer) Config() v1alpha1.Issuer {
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: is.key.Public(), KeyID: kid, Use: "sig", Algorithm: string(jose.ES256)}}})
	return v1alpha1.Issuer{
		Name: is.Name, Type: v1alpha1.IssuerTypeServiceAccount, URL: is.URL,
		StaticKeys: &v1alpha1.StaticKeys{JWKS: string(jwks)},
		Algorithms: []string{string(jose.ES256)},
	}
}

// Claims of one token. Zero values take defaults.
type Claims struct {
	// Namespace and ServiceAccount name the subject; default
	// "default"/"default".
	Namespace, ServiceAccount string
	// Audiences is aud; default [URL].
	Audiences []string
	// Expiry is exp; default an hour from now.
	Expiry time.Time
}

// Token signs a token for c.
func (is *Issuer) Token(c Claims) (string, error) {
	if c.Namespace == "" {
		c.Namespace = "default"
	}
	if c.ServiceAccount == "" {
		c.ServiceAccount = "default"
	}
	if len(c.Audiences) == 0 {
		c.Audiences = []string{is.URL}
	}
	now := time.Now()
	if c.Expiry.IsZero() {
		c.Expiry = now.Add(time.Hour)
	}
	payload, err := json.Marshal(map[string]any{
		"iss": is.URL, "sub": "system:serviceaccount:" + c.Namespace + ":" + c.ServiceAccount,
		"aud": c.Audiences, "iat": now.Unix(), "nbf": now.Unix(), "exp": c.Expiry.Unix(),
		"jti": randomID(),
		"kubernetes.io": map[string]any{
			"namespace":      c.Namespace,
			"serviceaccount": map[string]any{"name": c.ServiceAccount, "uid": "6b1e6f1c-0000-4000-8000-000000000001"},
		},
	})
	if err != nil {
		return "", err
	}
	return jwstest.Sign(is.key, jose.ES256, kid, string(payload), map[string]any{"typ": "JWT"})
}

// Username is what tokenfed answers for a service account of this issuer.
func (is *Issuer) Username(namespace, serviceAccount string) string {
	return is.Name + ":system:serviceaccount:" + namespace + ":" + serviceAccount
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
