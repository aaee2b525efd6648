package staticissuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/jwstest"
)

// Issuer signs service-account tokens with one key.
type Issuer struct {
	// Name is the tokenfed issuer name; answers carry the prefix Name+":".
	Name string
	// URL is the iss of its tokens, and their audience by default.
	URL string
	kid string
	key crypto.Signer
	alg jose.SignatureAlgorithm
}

// Options say who an issuer is. Zero values take defaults.
type Options struct {
	// Name is the tokenfed issuer name; required.
	Name string
	// URL is the iss of its tokens; default https://NAME.issuer.test.
	URL string
	// KeyID is the kid its tokens and its JWKS name; default "static-1".
	KeyID string
	// Key signs: an *ecdsa.PrivateKey on P-256 (ES256) or an
	// *rsa.PrivateKey (RS256); default a fresh P-256 key. Two issuers
	// with the same Name and URL and different keys are the real one and
	// a forger.
	Key crypto.Signer
}

const defaultKeyID = "static-1"

// New returns an issuer with a fresh P-256 key and the URL
// https://NAME.issuer.test.
func New(name string) (*Issuer, error) {
	return NewWithOptions(Options{Name: name})
}

// NewWithOptions returns the issuer o describes. It fails for a key that
// is neither P-256 nor RSA, or when no fresh key can be generated.
func NewWithOptions(o Options) (*Issuer, error) {
	is := &Issuer{Name: o.Name, URL: o.URL, kid: o.KeyID, key: o.Key}
	if is.URL == "" {
		is.URL = "https://" + o.Name + ".issuer.test"
	}
	if is.kid == "" {
		is.kid = defaultKeyID
	}
	if is.key == nil {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		is.key = key
	}
	switch k := is.key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("staticissuer: ECDSA key on %s, want P-256", k.Curve.Params().Name)
		}
		is.alg = jose.ES256
	case *rsa.PrivateKey:
		is.alg = jose.RS256
	default:
		return nil, fmt.Errorf("staticissuer: key of type %T, want *ecdsa.PrivateKey or *rsa.PrivateKey", is.key)
	}
	return is, nil
}

// JWKS is the issuer's public key set, as issuers[].staticKeys.jwks takes
// it.
func (is *Issuer) JWKS() string {
	return jwstest.JWKS(jwstest.PublicJWK(is.key, is.kid, is.alg))
}

// Config is the tokenfed issuer entry: type ServiceAccount, the public
// key inline, the key's algorithm only.
func (is *Issuer) Config() v1alpha1.Issuer {
	return v1alpha1.Issuer{
		Name: is.Name, Type: v1alpha1.IssuerTypeServiceAccount, URL: is.URL,
		StaticKeys: &v1alpha1.StaticKeys{JWKS: is.JWKS()},
		Algorithms: []string{string(is.alg)},
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
	// ID is jti; default random.
	ID string
	// Pod and Node bind the token to them, as a token projected into a
	// pod is bound; default unbound.
	Pod, Node *Object
}

// Object is what a token names of an object it is bound to.
type Object struct{ Name, UID string }

// serviceAccountUID is the uid of every service account the issuer names.
const serviceAccountUID = "6b1e6f1c-0000-4000-8000-000000000001"

// Token signs a token for c.
func (is *Issuer) Token(c Claims) (string, error) {
	return jwstest.SignClaims(is.key, is.alg, is.kid, is.claims(c))
}

// claims are c as kube-apiserver's TokenRequest writes them.
func (is *Issuer) claims(c Claims) map[string]any {
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
	if c.ID == "" {
		c.ID = randomID()
	}
	private := map[string]any{
		"namespace":      c.Namespace,
		"serviceaccount": map[string]any{"name": c.ServiceAccount, "uid": serviceAccountUID},
	}
	for name, o := range map[string]*Object{"pod": c.Pod, "node": c.Node} {
		if o != nil {
			private[name] = map[string]any{"name": o.Name, "uid": o.UID}
		}
	}
	return map[string]any{
		"iss": is.URL, "sub": "system:serviceaccount:" + c.Namespace + ":" + c.ServiceAccount,
		"aud": c.Audiences, "iat": now.Unix(), "nbf": now.Unix(), "exp": c.Expiry.Unix(),
		"jti": c.ID, "kubernetes.io": private,
	}
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
