package keyset

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"
)

// Errors returned by Key and VerifySignature. They are short and carry no
// token data, so callers may put them in a TokenReview status.
var (
	ErrMalformed      = errors.New("malformed token")
	ErrAlgorithm      = errors.New("signing algorithm not allowed")
	ErrCriticalHeader = errors.New("unsupported critical header")
	ErrUnknownKey     = errors.New("unknown signing key")
	// ErrUnpublishedKey is an ErrUnknownKey that the issuer's current key
	// set, fetched from the issuer within UnknownKidCooldown, does not hold:
	// the issuer does not sign with that key.
	ErrUnpublishedKey = fmt.Errorf("%w: the issuer's current key set does not hold it", ErrUnknownKey)
	ErrAmbiguousKey   = errors.New("token has no kid and several keys fit")
	ErrNotReady       = errors.New("signing keys are not loaded")
	ErrSignature      = errors.New("invalid signature")
)

// VerifySignature implements the go-oidc v2 KeySet interface
// (github.com/coreos/go-oidc), so a KeySet can be handed to
// k8s.io/apiserver/plugin/pkg/authenticator/token/oidc as Options.KeySet.
//
// Only the compact serialization is accepted. The key comes from this set by
// kid; jku, x5u, x5c and jwk headers are ignored, never fetched or trusted.
// The payload's top-level keys must be unique: go-oidc decodes claims with
// encoding/json, which would silently keep the last duplicate.
func (k *KeySet) VerifySignature(ctx context.Context, token string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(token, k.joseAlgs)
	if err != nil {
		return nil, ParseError(err)
	}
	h := jws.Signatures[0].Header
	if err := CheckHeader(h); err != nil {
		return nil, err
	}
	key, err := k.Key(ctx, h.KeyID, h.Algorithm)
	if err != nil {
		return nil, err
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, ErrSignature
	}
	var top map[string]josejson.RawMessage
	if err := josejson.Unmarshal(payload, &top); err != nil {
		return nil, ErrMalformed
	}
	return payload, nil
}

// ParseError maps a go-jose parse error to ErrAlgorithm or ErrMalformed.
// go-jose messages may quote header bytes, so they are never passed on.
func ParseError(err error) error {
	var unexpected *jose.ErrUnexpectedSignatureAlgorithm
	if errors.As(err, &unexpected) {
		return ErrAlgorithm
	}
	return ErrMalformed
}

// CheckHeader rejects any "crit" header: this verifier understands no JWS
// extension, and RFC 7515 says a recipient must then reject the token.
// "b64" is rejected with it because an unencoded payload is no JWT.
func CheckHeader(h jose.Header) error {
	if _, ok := h.ExtraHeaders["crit"]; ok {
		return ErrCriticalHeader
	}
	if _, ok := h.ExtraHeaders["b64"]; ok {
		return ErrCriticalHeader
	}
	return nil
}

// fits reports whether key can verify a signature made with alg. A JWK that
// names its algorithm is held to it.
func fits(key Key, alg string) bool {
	if key.Algorithm != "" && key.Algorithm != alg {
		return false
	}
	return typeFits(key.Public, alg)
}

func typeFits(pub crypto.PublicKey, alg string) bool {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		_, ok := pub.(*rsa.PublicKey)
		return ok
	case "ES256":
		return curveIs(pub, elliptic.P256())
	case "ES384":
		return curveIs(pub, elliptic.P384())
	case "ES512":
		return curveIs(pub, elliptic.P521())
	case "EdDSA":
		_, ok := pub.(ed25519.PublicKey)
		return ok
	}
	return false
}

func curveIs(pub crypto.PublicKey, c elliptic.Curve) bool {
	ec, ok := pub.(*ecdsa.PublicKey)
	return ok && ec.Curve == c
}
