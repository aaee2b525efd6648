package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"

	"github.com/tokenfed/tokenfed/pkg/authn/keyset"
)

// minter signs service-account tokens exactly as kube-apiserver's
// TokenRequest does (same claims, kid derivation and algorithm), so the
// bench can use many distinct tokens without thousands of API calls.
type minter struct {
	signer jose.Signer
	issuer string
	ns, sa string
	uid    string
}

func newMinter(key crypto.Signer, alg jose.SignatureAlgorithm, issuer, ns, sa, uid string) (*minter, error) {
	kid, err := keyset.KeyIDFromPublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", kid).WithType("JWT"))
	if err != nil {
		return nil, err
	}
	return &minter{signer: s, issuer: issuer, ns: ns, sa: sa, uid: uid}, nil
}

type k8sClaims struct {
	jwt.Claims
	Kubernetes struct {
		Namespace      string `json:"namespace"`
		ServiceAccount struct {
			Name string `json:"name"`
			UID  string `json:"uid"`
		} `json:"serviceaccount"`
	} `json:"kubernetes.io"`
}

func (m *minter) mint(aud string) (string, error) {
	now := time.Now()
	c := k8sClaims{Claims: jwt.Claims{
		Issuer: m.issuer, Subject: fmt.Sprintf("system:serviceaccount:%s:%s", m.ns, m.sa),
		Audience: jwt.Audience{aud}, Expiry: jwt.NewNumericDate(now.Add(time.Hour)),
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ID: uuid.NewString(),
	}}
	c.Kubernetes.Namespace = m.ns
	c.Kubernetes.ServiceAccount.Name, c.Kubernetes.ServiceAccount.UID = m.sa, m.uid
	return jwt.Signed(m.signer).Claims(c).Serialize()
}

// mintMany signs n tokens on every core.
func (m *minter) mintMany(n int, aud string) ([]string, error) {
	out := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, runtime.NumCPU())
	for w := range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += runtime.NumCPU() {
				tok, err := m.mint(aud)
				if err != nil {
					errs <- err
					return
				}
				out[i] = tok
			}
		}()
	}
	wg.Wait()
	close(errs)
	return out, <-errs
}

func loadRSAKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	return key.(crypto.Signer), nil
}

func newECKey() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

// jwksOf is an inline JWKS with the public key, for a static issuer.
func jwksOf(key crypto.Signer, alg string) (string, error) {
	kid, err := keyset.KeyIDFromPublicKey(key.Public())
	if err != nil {
		return "", err
	}
	data, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: kid, Algorithm: alg, Use: "sig"}}})
	return string(data), err
}

// reviewBody is a v1 TokenReview request body.
func reviewBody(token string) []byte {
	b, _ := json.Marshal(map[string]any{
		"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
		"spec": map[string]any{"token": token},
	})
	return b
}
