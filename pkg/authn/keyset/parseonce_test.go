package keyset

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokenfed/tokenfed/pkg/authn/jws"
)

// TestVerifySignatureChecksTheTokenItIsGiven: a parse carried in the
// context (jws.WithParsed, as the OIDC verifier hands it to
// kube-apiserver's authenticator) stands in only for the very token it was
// made from. A forged token verified under the parse of a genuine one must
// be checked itself, and never get the genuine token's payload.
func TestVerifySignatureChecksTheTokenItIsGiven(t *testing.T) {
	f := newVerifyFixture(t)
	genuine, err := jws.Parse(f.valid)
	if err != nil {
		t.Fatal(err)
	}
	ctx := jws.WithParsed(context.Background(), genuine)
	parts := strings.Split(f.valid, ".")
	forgedPayload := strings.Split(sign(t, otherRSAKey(t), jose.RS256, "rsa1", `{"iss":"https://issuer.example","sub":"mallory"}`, nil), ".")
	for name, forged := range map[string]string{
		"another payload, the genuine signature":        parts[0] + "." + forgedPayload[1] + "." + parts[2],
		"signed by another key":                         strings.Join(forgedPayload, "."),
		"the genuine token with another signature byte": flipSignatureByte(f.valid),
	} {
		payload, err := f.ks.VerifySignature(ctx, forged)
		if !errors.Is(err, jws.ErrSignature) {
			t.Errorf("%s: got payload %q, error %v; want %v", name, payload, err, jws.ErrSignature)
		}
	}
	payload, err := f.ks.VerifySignature(ctx, f.valid)
	if err != nil || string(payload) != string(genuine.Payload()) {
		t.Fatalf("the genuine token: got payload %q, error %v", payload, err)
	}
}

// flipSignatureByte changes the first byte of token's signature.
func flipSignatureByte(token string) string {
	dot := strings.LastIndexByte(token, '.')
	sig, err := base64.RawURLEncoding.DecodeString(token[dot+1:])
	if err != nil {
		panic(err)
	}
	sig[0] ^= 1
	return token[:dot+1] + base64.RawURLEncoding.EncodeToString(sig)
}
