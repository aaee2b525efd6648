package jws

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"math/big"
	"unsafe"
)

// Verify checks the signature with key, the way go-jose does
// (asymmetric.go, verifyPayload): PKCS #1 v1.5 for RS*, PSS with the salt
// length auto-detected for PS*, r||s of exactly twice the curve's byte size
// for ES*, Ed25519 for EdDSA. Call CheckHeader first. A bad signature, or a
// key that does not fit the alg, is ErrSignature, never a panic.
func (t *Token) Verify(key crypto.PublicKey) error {
	if !verifySignature(t.Header.Alg, key, t.SigningInput(), t.signature) {
		return ErrSignature
	}
	return nil
}

func verifySignature(alg string, key crypto.PublicKey, input string, sig []byte) bool {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		pub, ok := key.(*rsa.PublicKey)
		if !ok {
			return false
		}
		var room [sha512.Size]byte
		h, digest := hashOf(room[:0], alg[2:], input)
		if alg[0] == 'R' {
			return rsa.VerifyPKCS1v15(pub, h, digest, sig) == nil
		}
		return rsa.VerifyPSS(pub, h, digest, sig, nil) == nil
	case "ES256", "ES384", "ES512":
		pub, ok := key.(*ecdsa.PublicKey)
		if !ok || pub.Curve != curveOf[alg] {
			return false
		}
		size := (pub.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		var room [sha512.Size]byte
		_, digest := hashOf(room[:0], alg[2:], input)
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(pub, digest, r, s)
	case "EdDSA":
		pub, ok := key.(ed25519.PublicKey)
		return ok && len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, unsafe.Slice(unsafe.StringData(input), len(input)), sig)
	}
	return false
}

var curveOf = map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}

// hashOf appends the SHA-<bits> digest of input to dst.
func hashOf(dst []byte, bits, input string) (crypto.Hash, []byte) {
	// The hash neither keeps nor changes its input: lent, not copied.
	b := unsafe.Slice(unsafe.StringData(input), len(input))
	switch bits {
	case "384":
		d := sha512.Sum384(b)
		return crypto.SHA384, append(dst, d[:]...)
	case "512":
		d := sha512.Sum512(b)
		return crypto.SHA512, append(dst, d[:]...)
	}
	d := sha256.Sum256(b)
	return crypto.SHA256, append(dst, d[:]...)
}
