// Package jwstest signs tokens for tests: any payload bytes, any headers,
// so tests can build the tokens no honest issuer would.
package jwstest

import (
	jose "github.com/go-jose/go-jose/v4"
)

// Sign makes a compact JWS over payload taken verbatim (it may be any
// bytes, even JSON with duplicate names). kid is set when not empty, and
// headers are set as given (e.g. "typ", "jku", "crit").
func Sign(key any, alg jose.SignatureAlgorithm, kid, payload string, headers map[string]any) (string, error) {
	opts := &jose.SignerOptions{}
	if kid != "" {
		opts.WithHeader("kid", kid)
	}
	for k, v := range headers {
		opts.WithHeader(jose.HeaderKey(k), v)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		return "", err
	}
	obj, err := signer.Sign([]byte(payload))
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}
