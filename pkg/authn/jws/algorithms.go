package jws

import "slices"

// Algorithms are the JWS algorithms tokenfed can verify (RFC 7518 §3.1,
// and EdDSA from RFC 8037), the one list every allow-list is checked
// against. HS* and "none" are absent on purpose: keys come from issuers'
// public key sets, so a symmetric algorithm could only mean key confusion,
// and a shared secret would let any caller mint tokens.
var Algorithms = []string{
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA",
}

// Defaults, each for the place that applies it.
var (
	// DefaultAlgorithms is a configured issuer's allow-list when it names
	// none (pkg/apis/config/v1alpha1): what kube-apiserver signs
	// service-account tokens with by default, and what OIDC providers sign
	// ID tokens with.
	DefaultAlgorithms = []string{"RS256", "ES256"}
	// DefaultServiceAccountAlgorithms are the algorithms kube-apiserver
	// signs service-account tokens with (pkg/serviceaccount/jwt.go and the
	// external signer's header check): package jwt's default.
	DefaultServiceAccountAlgorithms = []string{"RS256", "ES256", "ES384", "ES512"}
	// DefaultOIDCAlgorithms is kube-apiserver's JWT authenticator's default
	// (RS256 only): package keyset's default.
	DefaultOIDCAlgorithms = []string{"RS256"}
)

// Supported reports whether alg is one of Algorithms.
func Supported(alg string) bool { return slices.Contains(Algorithms, alg) }
