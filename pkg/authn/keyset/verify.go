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

	"github.com/tokenfed/tokenfed/pkg/authn/jws"
)

// Errors returned by Key. They are short and carry no token data, so
// callers may put them in a TokenReview status. Errors about the token
// itself (jws.ErrAlgorithm, jws.ErrSignature, ...) are package jws's.
var (
	ErrUnknownKey = errors.New("unknown signing key")
	// ErrUnpublishedKey is an ErrUnknownKey that the issuer's current key
	// set, fetched from the issuer within UnknownKidCooldown, does not hold:
	// the issuer does not sign with that key.
	ErrUnpublishedKey = fmt.Errorf("%w: the issuer's current key set does not hold it", ErrUnknownKey)
	ErrAmbiguousKey   = errors.New("token has no kid and several keys fit")
	ErrNotReady       = errors.New("signing keys are not loaded")
)

// VerifySignature implements the go-oidc v2 KeySet interface
// (github.com/coreos/go-oidc), so a KeySet can be handed to
// k8s.io/apiserver/plugin/pkg/authenticator/token/oidc as Options.KeySet.
//
// The token is parsed by package jws (or its parse is taken from ctx, see
// jws.ParseOnce): compact serialization only, one spelling, no colliding
// member names, so go-oidc's encoding/json decoding of the payload sees the
// members tokenfed's own reads see. The key comes from this set by kid;
// jku, x5u, x5c and jwk headers are ignored, never fetched or trusted.
func (k *KeySet) VerifySignature(ctx context.Context, token string) ([]byte, error) {
	t, err := jws.ParseOnce(ctx, token)
	if err != nil {
		return nil, jws.ErrMalformed
	}
	if err := t.CheckHeader(k.opts.Algorithms); err != nil {
		return nil, err
	}
	key, err := k.Key(ctx, t.Header.Kid, t.Header.Alg)
	if err != nil {
		return nil, err
	}
	if err := t.Verify(key); err != nil {
		return nil, err
	}
	return t.Payload(), nil
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
