package jwstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"sync"

	jose "github.com/go-jose/go-jose/v4"
)

// Shared keys: one test binary generates each at most once, on first use,
// because a 2048-bit RSA key takes up to seconds under -race and most
// tests only need keys that differ from each other, not fresh ones. The
// same index always gives the same key within one binary, different
// indexes different keys; nothing is shared across binaries.
var shared = struct {
	sync.Mutex
	keys map[string]crypto.Signer
}{keys: map[string]crypto.Signer{}}

func sharedKey(name string, generate func() (crypto.Signer, error)) crypto.Signer {
	shared.Lock()
	defer shared.Unlock()
	if k, ok := shared.keys[name]; ok {
		return k
	}
	k, err := generate()
	if err != nil {
		// crypto/rand failed: no test in the binary can run.
		panic(fmt.Sprintf("jwstest: generating %s: %v", name, err))
	}
	shared.keys[name] = k
	return k
}

// RSAKey is the i-th shared 2048-bit RSA key (i >= 0), tokenfed's minimum
// size and what kube-apiserver's service-account keys usually are.
func RSAKey(i int) *rsa.PrivateKey {
	return rsaKey(i, 2048)
}

// WeakRSAKey is a shared 1024-bit RSA key: under the 2048-bit floor that
// tokenfed (like kube-apiserver) enforces, for tests that it is refused.
func WeakRSAKey() *rsa.PrivateKey {
	return rsaKey(0, 1024)
}

func rsaKey(i, bits int) *rsa.PrivateKey {
	return sharedKey(fmt.Sprintf("rsa-%d-%d", bits, i), func() (crypto.Signer, error) {
		return rsa.GenerateKey(rand.Reader, bits)
	}).(*rsa.PrivateKey)
}

// ECKey is the i-th shared P-256 key (i >= 0), for ES256.
func ECKey(i int) *ecdsa.PrivateKey {
	return sharedKey(fmt.Sprintf("p256-%d", i), func() (crypto.Signer, error) {
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}).(*ecdsa.PrivateKey)
}

// PublicJWK is key's public half as a signing JWK with kid and alg; alg ""
// leaves the JWK's alg out, as many issuers do.
func PublicJWK(key crypto.Signer, kid string, alg jose.SignatureAlgorithm) jose.JSONWebKey {
	return jose.JSONWebKey{Key: key.Public(), KeyID: kid, Algorithm: string(alg), Use: "sig"}
}

// JWKS is the JSON document of a key set holding keys, as an issuer's
// jwks_uri serves it and issuers[].staticKeys.jwks takes it. It panics
// when a key cannot be encoded, which only a key type go-jose does not
// know can cause: a mistake in the test, not in what it tests.
func JWKS(keys ...jose.JSONWebKey) string {
	doc, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		panic(fmt.Sprintf("jwstest: encoding a JWKS: %v", err))
	}
	return string(doc)
}

// SignClaims signs claims, encoded as JSON, with typ JWT in the header as
// kube-apiserver and OIDC providers set it; otherwise it is Sign.
func SignClaims(key any, alg jose.SignatureAlgorithm, kid string, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	return Sign(key, alg, kid, string(payload), map[string]any{"typ": "JWT"})
}
