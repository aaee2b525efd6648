package faults

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/jwstest"
)

// issuer is a Kubernetes service-account issuer whose clock this package
// sets: it signs ES256 tokens shaped as kube-apiserver mints them, with
// iat, nbf and exp as skewed as a test wants.
type issuer struct {
	name, url string
	key       *ecdsa.PrivateKey
	kid       string
}

func newIssuer(t *testing.T, name string) *issuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &issuer{name: name, url: "https://" + name + ".faults.test", key: key, kid: name + "-1"}
}

// jwks is the issuer's key set document.
func (is *issuer) jwks() []byte {
	doc, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: is.key.Public(), KeyID: is.kid, Use: "sig", Algorithm: string(jose.ES256)}}})
	return doc
}

// config trusts the issuer with its key inline, ES256 only.
func (is *issuer) config() v1alpha1.Issuer {
	return v1alpha1.Issuer{
		Name: is.name, Type: v1alpha1.IssuerTypeServiceAccount, URL: is.url,
		StaticKeys: &v1alpha1.StaticKeys{JWKS: string(is.jwks())},
		Algorithms: []string{string(jose.ES256)},
	}
}

// username is what tokenfed answers for the issuer's default/default.
func (is *issuer) username() string {
	return is.name + ":system:serviceaccount:default:default"
}

// claims shape one token. Zero values take defaults.
type claims struct {
	// skew is how far the issuer's clock is ahead of ours (negative:
	// behind): iat, nbf and exp all move with it.
	skew time.Duration
	// life is exp - iat; default an hour.
	life time.Duration
	// kid overrides the issuer's key ID (a rotated key tokenfed lacks).
	kid string
}

// token signs a fresh token (its own jti) for default/default.
func (is *issuer) token(t *testing.T, c claims) string {
	t.Helper()
	if c.life == 0 {
		c.life = time.Hour
	}
	if c.kid == "" {
		c.kid = is.kid
	}
	issued := time.Now().Add(c.skew)
	payload, err := json.Marshal(map[string]any{
		"iss": is.url, "sub": "system:serviceaccount:default:default", "aud": []string{is.url},
		"iat": issued.Unix(), "nbf": issued.Unix(), "exp": issued.Add(c.life).Unix(), "jti": randomHex(),
		"kubernetes.io": map[string]any{
			"namespace":      "default",
			"serviceaccount": map[string]any{"name": "default", "uid": "6b1e6f1c-0000-4000-8000-000000000001"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwstest.Sign(is.key, jose.ES256, c.kid, string(payload), map[string]any{"typ": "JWT"})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// forge returns valid's header and signature around another payload (a
// fresh jti): a token of the right issuer and key whose signature check
// fails, which costs its sender nothing to make.
func forge(t *testing.T, valid string) string {
	t.Helper()
	parts := strings.Split(valid, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	claims["jti"] = randomHex()
	forged, _ := json.Marshal(claims)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(forged) + "." + parts[2]
}

func randomHex() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
