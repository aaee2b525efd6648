package keyset

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"

	josejson "github.com/go-jose/go-jose/v4/json"
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

// parsed is what one document yields: the keys kept, and why the others
// were not.
type parsed struct {
	keys    []Key
	dropped []drop
}

// parseKeys reads a JWKS document or a PEM bundle.
func (p policy) parseKeys(data []byte) (parsed, error) {
	data = bytes.TrimSpace(data)
	if bytes.HasPrefix(data, []byte("{")) {
		return p.parseJWKS(data)
	}
	res, err := p.parsePEM(data)
	if err != nil {
		return parsed{}, err
	}
	return p.finish(res)
}

// parseJWKS decodes keys one by one: a key that breaks a rule is dropped
// with its reason and must not hide the others, as a whole-set unmarshal
// would (RFC 7517 §5 says to ignore keys one cannot use).
func (p policy) parseJWKS(data []byte) (parsed, error) {
	var doc struct {
		Keys *[]josejson.RawMessage `json:"keys"`
	}
	if err := josejson.Unmarshal(data, &doc); err != nil {
		return parsed{}, fmt.Errorf("decode jwks: %w", jsonError(err))
	}
	if doc.Keys == nil {
		return parsed{}, errors.New("decode jwks: no keys array")
	}
	var res parsed
	for i, raw := range *doc.Keys {
		key, kid, r := p.checkJWK(raw)
		if r != nil {
			res.dropped = append(res.dropped, drop{key: keyLabel(kid, i+1), reason: *r})
			continue
		}
		res.keys = append(res.keys, key)
	}
	return p.finish(res)
}

// finish applies the rules across keys. A document with no usable key is an
// error, so a broken fetch never replaces a good key set.
func (p policy) finish(res parsed) (parsed, error) {
	res = p.dropSharedKids(dropCompromised(res))
	if len(res.keys) == 0 {
		return parsed{}, &noUsableKeysError{dropped: res.dropped}
	}
	return res, nil
}

// parsePEM accepts public keys and certificates only: private keys do not
// belong in a verifier's configuration, and a wrong block is a config error,
// not a key to skip.
func (p policy) parsePEM(data []byte) (parsed, error) {
	var res parsed
	for pos := 1; ; pos++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		pub, err := pemPublicKey(block)
		if err != nil {
			return parsed{}, err
		}
		kid, err := KeyIDFromPublicKey(pub)
		if err != nil {
			return parsed{}, err
		}
		if _, r := p.checkPublic(pub, nil); r != nil {
			res.dropped = append(res.dropped, drop{key: keyLabel(kid, pos), reason: *r})
			continue
		}
		res.keys = append(res.keys, Key{KeyID: kid, Public: pub})
	}
	if len(bytes.TrimSpace(data)) != 0 {
		return parsed{}, errors.New("trailing data after PEM blocks")
	}
	return res, nil
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
