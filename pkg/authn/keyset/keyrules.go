package keyset

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
)

// Rules on the parsed key itself, the same for JWKs and PEM keys.

// minRSABits is the smallest RSA modulus kept: RFC 7518 §3.3 and §3.5 say
// RS* and PS* keys MUST be at least this large, as do NIST SP 800-131A and
// FIPS 186-5.
const minRSABits = 2048

// maxRSAExponent is crypto/rsa's own limit, kept here so that a key is
// dropped at load rather than failing every verification.
const maxRSAExponent = 1<<31 - 1

// checkPublic applies the rules on the key itself, for JWKs and PEM keys
// alike, and returns the algorithm the key is bound to ("" for any that fits).
func (p policy) checkPublic(pub crypto.PublicKey, alg *string) (string, *reason) {
	if r := checkStrength(pub); r != nil {
		return "", r
	}
	if alg != nil {
		if !typeFits(pub, *alg) {
			return "", dropFor(reasonAlgMismatch, "alg %s does not fit %s key", quote(*alg), describeKey(pub))
		}
		return *alg, nil
	}
	for _, a := range p.algs {
		if typeFits(pub, a) {
			return "", nil
		}
	}
	return "", dropFor(reasonNoAllowedAlg, "no allowed algorithm fits %s key", describeKey(pub))
}

// checkStrength refuses keys crypto/* would refuse at every verification,
// and RSA keys too small to resist factoring.
func checkStrength(pub crypto.PublicKey) *reason {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return checkRSA(k)
	case *ecdsa.PublicKey:
		// ECDH validates the point against the curve; PEM keys reach here
		// without go-jose's check.
		if _, err := k.ECDH(); err != nil {
			return dropFor(reasonInvalidKey, "EC key is not a point on a supported curve")
		}
	}
	return nil
}

func checkRSA(k *rsa.PublicKey) *reason {
	switch {
	case k.N == nil || k.N.Bit(0) == 0:
		return dropFor(reasonInvalidKey, "RSA modulus is even")
	case k.N.BitLen() < minRSABits:
		return dropFor(reasonWeakKey, "RSA key smaller than %d bits", minRSABits)
	case k.E < 3 || k.E%2 == 0 || k.E > maxRSAExponent:
		// An even exponent has no inverse, and 1 makes the signature the
		// message: neither is a real key.
		return dropFor(reasonInvalidKey, "RSA exponent is not an odd number from 3 to 2^31-1")
	}
	return nil
}

func describeKey(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return "RSA"
	case *ecdsa.PublicKey:
		return "EC " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return "unknown"
}

func isAsymmetricPublic(k any) bool {
	switch k.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return true
	}
	return false
}
