package jwstest

import (
	"encoding/base64"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokenfed/tokenfed/pkg/testing/secretscan"
)

// Sign makes a compact JWS over payload taken verbatim (it may be any
// bytes, even JSON with duplicate names). kid is set when not empty, and
// headers are set as given (e.g. "typ", "jku", "crit"). The token is
// registered with secretscan, which fails the run if any log quotes it.
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
	token, err := obj.CompactSerialize()
	if err != nil {
		return "", err
	}
	secretscan.Register(token, "jwstest.Sign")
	return token, nil
}

// Raw assembles header.payload.signature from plain strings, each
// base64url-encoded as given: for tokens no honest signer would produce.
// Unlike Sign it does not register the token with secretscan: its parts
// are often a few bytes that any log could hold by chance.
func Raw(header, payload, sig string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(payload)) + "." + enc([]byte(sig))
}

// Compact assembles header.payload.sig with header and payload
// base64url-encoded and sig used verbatim, as a segment already or as a
// spelling under test: the builder of parser tests and fuzz seeds.
func Compact(header, payload, sig string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(payload)) + "." + sig
}

// The shapes parser tests start from: a header with alg, kid and typ, a
// payload with iss and sub, and a signature segment that uses both
// characters only the URL alphabet has (the bytes fb ff fe 01).
const (
	Header    = `{"alg":"RS256","kid":"k1","typ":"JWT"}`
	Payload   = `{"iss":"https://a.example","sub":"x"}`
	Signature = "-__-AQ"
)
