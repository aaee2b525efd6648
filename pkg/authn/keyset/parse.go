package keyset

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// Key is one public verification key.
type Key struct {
	// KeyID is the JWK "kid", or for PEM keys the ID kube-apiserver derives.
	KeyID string
	// Algorithm is the JWK "alg"; empty means any algorithm the key type fits.
	Algorithm string
	// Public is an *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey.
	Public crypto.PublicKey
}

// parseKeys reads a JWKS document or a PEM bundle. A document with no usable
// key is an error, so a broken fetch never replaces a good key set.
func parseKeys(data []byte) ([]Key, error) {
	data = bytes.TrimSpace(data)
	var (
		keys []Key
		err  error
	)
	if bytes.HasPrefix(data, []byte("{")) {
		keys, err = parseJWKS(data)
	} else {
		keys, err = parsePEM(data)
	}
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, errors.New("no usable keys")
	}
	return keys, nil
}

// parseJWKS decodes keys one by one: a single key of an unknown type must not
// hide the others, as a whole-set unmarshal would.
func parseJWKS(data []byte) ([]Key, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("decode jwks: %w", err)
	}
	var keys []Key
	for _, raw := range doc.Keys {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil {
			continue
		}
		if k, ok := usableJWK(jwk); ok {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// usableJWK keeps signature keys of asymmetric types and drops any private
// half a careless issuer may have published.
func usableJWK(jwk jose.JSONWebKey) (Key, bool) {
	if jwk.Use != "" && jwk.Use != "sig" {
		return Key{}, false
	}
	if !jwk.IsPublic() {
		jwk = jwk.Public()
	}
	if !isAsymmetricPublic(jwk.Key) {
		return Key{}, false
	}
	return Key{KeyID: jwk.KeyID, Algorithm: jwk.Algorithm, Public: jwk.Key}, true
}

func isAsymmetricPublic(k any) bool {
	switch k.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return true
	}
	return false
}

// parsePEM accepts public keys and certificates only: private keys do not
// belong in a verifier's configuration.
func parsePEM(data []byte) ([]Key, error) {
	var keys []Key
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		pub, err := pemPublicKey(block)
		if err != nil {
			return nil, err
		}
		kid, err := KeyIDFromPublicKey(pub)
		if err != nil {
			return nil, err
		}
		keys = append(keys, Key{KeyID: kid, Public: pub})
	}
	if len(bytes.TrimSpace(data)) != 0 {
		return nil, errors.New("trailing data after PEM blocks")
	}
	return keys, nil
}

func pemPublicKey(block *pem.Block) (crypto.PublicKey, error) {
	var (
		pub any
		err error
	)
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = cert.PublicKey
		}
	default:
		return nil, fmt.Errorf("PEM block type %q is not accepted", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse PEM %s: %w", block.Type, err)
	}
	if !isAsymmetricPublic(pub) {
		return nil, fmt.Errorf("PEM key type %T is not supported", pub)
	}
	return pub, nil
}

// KeyIDFromPublicKey derives the key ID kube-apiserver gives a service-account
// signing key (pkg/serviceaccount keyIDFromPublicKey): the unpadded base64url
// SHA-256 of the PKIX DER encoding. Using the same derivation lets a PEM key
// match the kid in tokens that cluster mints.
func KeyIDFromPublicKey(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("marshal public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}
