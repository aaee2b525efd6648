package security

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokenfed/tokenfed/pkg/testing/jwstest"
)

const (
	saUsername = "system:serviceaccount:ns:sa"
	saUID      = "8a1b7c2d-0000-4000-8000-00000000a5a5"
)

// signer is a key with the alg and kid a token header names.
type signer struct {
	alg jose.SignatureAlgorithm
	kid string
	key func() any
}

var (
	rs256 = signer{jose.RS256, rsaKid, func() any { return rsaKey() }}
	es256 = signer{jose.ES256, ecKid, func() any { return ecKey() }}
	// attacker signs with a key nobody trusts.
	attacker = signer{jose.ES256, "attacker-1", func() any { return attackerKey() }}
)

func (s signer) withKid(kid string) signer {
	s.kid = kid
	return s
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// claims are a valid token's claims, as kube-apiserver mints them for
// ns/sa with the issuer as audience; a fresh jti makes each token distinct.
func (f *fakeIssuer) claims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": f.URL(),
		"sub": saUsername,
		"aud": []string{f.URL()},
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
		"jti": randomID(),
		"kubernetes.io": map[string]any{
			"namespace":      "ns",
			"serviceaccount": map[string]any{"name": "sa", "uid": saUID},
		},
	}
}

// token signs a valid token with s; edits may change its claims first (a
// nil value deletes a claim). It also returns the jti.
func (f *fakeIssuer) token(t testing.TB, s signer, edits ...map[string]any) (string, string) {
	t.Helper()
	c := f.claims()
	for _, e := range edits {
		for k, v := range e {
			if v == nil {
				delete(c, k)
				continue
			}
			c[k] = v
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	jti, _ := c["jti"].(string)
	return sign(t, s, string(b), nil), jti
}

// sign signs payload verbatim (so it may be any bytes, even JSON with
// duplicate names); extra headers are set as given.
func sign(t testing.TB, s signer, payload string, extra map[string]any) string {
	t.Helper()
	headers := map[string]any{"typ": "JWT"}
	for k, v := range extra {
		headers[k] = v
	}
	out, err := jwstest.Sign(s.key(), s.alg, s.kid, payload, headers)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var b64 = base64.RawURLEncoding.EncodeToString

// rawToken joins encoded header and payload with sig, used verbatim.
func rawToken(header, payload, sig string) string {
	return b64([]byte(header)) + "." + b64([]byte(payload)) + "." + sig
}
