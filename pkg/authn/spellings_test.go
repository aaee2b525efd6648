package authn

import (
	"github.com/tokenfed/tokenfed/pkg/authn/jws"

	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"k8s.io/apiserver/pkg/authentication/authenticator"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/jwstest"
	"github.com/tokenfed/tokenfed/pkg/testing/secretscan"
)

// spellings derives every spelling of token we could think of: schemes and
// other prefixes, whitespace, truncation, JWS JSON serialization, base64
// variants, case and repetition. A lone signature segment is left out on
// purpose: it is random base64url, indistinguishable from an opaque token,
// and not a credential, since the token cannot be rebuilt from it.
func spellings(token string) map[string]string {
	segs := strings.Split(token, ".")
	h, p, s := segs[0], segs[1], segs[2]
	out := map[string]string{}
	for _, pre := range []string{"Bearer ", "bearer ", "BEARER ", "Bearer\t", "Bearer:", "Bearer  ", "Token ", "JWT ", "Authorization: Bearer ", "x", ".", "\"", "="} {
		out[fmt.Sprintf("prefix %q", pre)] = pre + token
	}
	for _, suf := range []string{".", "..", ".x", "=", "==", "\x00", "%00", "\"", ",", ";"} {
		out[fmt.Sprintf("suffix %q", suf)] = token + suf
	}
	for _, ws := range []string{" ", "\n", "\r\n", "\t", "\v", "\f", "\u00a0", "\u2028", "\u200b", "\ufeff", "\x00"} {
		out[fmt.Sprintf("%q before", ws)] = ws + token
		out[fmt.Sprintf("%q after", ws)] = token + ws
		out[fmt.Sprintf("%q around", ws)] = ws + token + ws
		out[fmt.Sprintf("%q after each dot", ws)] = strings.ReplaceAll(token, ".", "."+ws)
		out[fmt.Sprintf("%q before each dot", ws)] = strings.ReplaceAll(token, ".", ws+".")
		out[fmt.Sprintf("%q in the signature", ws)] = h + "." + p + "." + s[:10] + ws + s[10:]
	}
	for name, v := range map[string]string{
		"header and payload":          h + "." + p,
		"header and payload, dot":     h + "." + p + ".",
		"payload and signature":       p + "." + s,
		"header and signature":        h + ".." + s,
		"header only":                 h,
		"payload only":                p,
		"last character dropped":      token[:len(token)-1],
		"first character dropped":     token[1:],
		"first half":                  token[:len(token)/2],
		"segments reordered":          p + "." + h + "." + s,
		"signature first":             s + "." + h + "." + p,
		"twice, dot":                  token + "." + token,
		"twice, space":                token + " " + token,
		"twice, comma":                token + "," + token,
		"standard alphabet":           strings.NewReplacer("-", "+", "_", "/").Replace(token),
		"padded segments":             pad(h) + "." + pad(p) + "." + pad(s),
		"padded signature":            h + "." + p + "." + pad(s),
		"trailing bits in the header": h[:len(h)-1] + bumpLastBits(h) + "." + p + "." + s,
		"trailing bits in the sig":    h + "." + p + "." + s[:len(s)-1] + bumpLastBits(s),
		"whole token, base64":         base64.StdEncoding.EncodeToString([]byte(token)),
		"whole token, base64url":      base64.RawURLEncoding.EncodeToString([]byte(token)),
		"dots percent-encoded":        strings.ReplaceAll(token, ".", "%2E"),
		"tilde separators":            strings.ReplaceAll(token, ".", "~"),
		"upper case":                  strings.ToUpper(token),
		"lower case":                  strings.ToLower(token),
		"JSON string":                 mustJSON(token),
		"JWS JSON, flattened":         mustJSON(map[string]string{"protected": h, "payload": p, "signature": s}),
		"JWS JSON, general":           mustJSON(map[string]any{"payload": p, "signatures": []map[string]string{{"protected": h, "signature": s}}}),
		"JWE-shaped, five segments":   h + "." + p + "." + s + ".x.y",
		"four segments":               token + ".e30",
		"query string":                "access_token=" + token,
		"URL":                         "https://app.example/?token=" + token,
		"header line":                 "Authorization: " + token,
	} {
		out[name] = v
	}
	for name, v := range reencodings(token) {
		out[name] = v
	}
	return out
}

// reencodings are what tools and transports make of a token: other
// encodings of the token or its file, separators, and letter case changed
// anywhere. Each still holds the token's claims.
func reencodings(token string) map[string]string {
	segs := strings.Split(token, ".")
	h, p, s := segs[0], segs[1], segs[2]
	std, url := base64.StdEncoding.EncodeToString, base64.RawURLEncoding.EncodeToString
	b32 := base32.StdEncoding.EncodeToString
	return map[string]string{
		"token file, base64 -w0":              std([]byte(token + "\n")),
		"token and CRLF, base64url":           url([]byte(token + "\r\n")),
		"token file, base64 twice":            std([]byte(std([]byte(token + "\n")))),
		"token file, base64 wrapped at 76":    every(std([]byte(token+"\n")), "\n", 76),
		"hex":                                 hex.EncodeToString([]byte(token)),
		"hex, upper case":                     strings.ToUpper(hex.EncodeToString([]byte(token))),
		"token file, hex with dashes":         every(hex.EncodeToString([]byte(token+"\n")), "-", 2),
		"base32":                              b32([]byte(token)),
		"UTF-16LE, base64 (PowerShell)":       std([]byte(strings.Join(strings.Split(token, ""), "\x00") + "\x00")),
		"base32, lower case":                  strings.ToLower(b32([]byte(token + "\n"))),
		"tilde every 8 characters":            every(strings.ReplaceAll(token, ".", ""), "~", 8),
		"dot every 11 characters, prefixed":   "x." + every(token, ".", 11),
		"dash every 4 characters":             every(token, "-", 4),
		"percent-encoded, every character":    percentEncodeAll(token),
		"dots as x":                           strings.ReplaceAll(token, ".", "x"),
		"lower case, glued before segments":   "x" + strings.ToLower(h) + ".x" + strings.ToLower(p) + ".x" + strings.ToLower(s),
		"upper case, glued, dots as x":        "X" + strings.ToUpper(strings.ReplaceAll(token, ".", "x")),
		"payload only, upper case, glued":     "abc" + strings.ToUpper(p),
		"quoted-printable soft line breaks":   every(token, "=\r\n", 75),
		"base64 of the quoted-printable form": std([]byte(every(token, "=\r\n", 75))),
	}
}

// every inserts sep after every n characters of s.
func every(s, sep string, n int) string {
	var b strings.Builder
	for i := 0; i < len(s); i += n {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(s[i:min(i+n, len(s))])
	}
	return b.String()
}

func percentEncodeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}

func pad(seg string) string {
	return seg + strings.Repeat("=", (4-len(seg)%4)%4)
}

// bumpLastBits re-spells seg's last character with non-zero trailing bits,
// when the length leaves any.
func bumpLastBits(seg string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, seg[len(seg)-1])
	return string(alphabet[last|1])
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestChainTokenSpellings: hub's valid token, in every spelling, is either
// answered as the token itself or refused, and never reaches another
// cluster: edge's upstream, which also takes opaque tokens, counts zero.
func TestChainTokenSpellings(t *testing.T) {
	hubUp, edgeUp := newFakeUpstream(t, answerSA), newFakeUpstream(t, answerSA)
	c := newChain(t, withOpaqueEdge(t, hubConfig(t, hubUp, onFailure), edgeUp))
	ctx := authenticator.WithAudiences(context.Background(), authenticator.Audiences{issuerURL})
	token := plainToken.mint(t)

	canonical, ok, err := c.AuthenticateToken(ctx, token)
	if !ok || err != nil || canonical.User.GetName() != hubUser {
		t.Fatalf("canonical token: got ok=%v err=%v, want %s", ok, err, hubUser)
	}
	accepted := 0
	for name, spelling := range spellings(token) {
		t.Run(name, func(t *testing.T) {
			before := edgeUp.hits.Load()
			resp, ok, err := c.AuthenticateToken(ctx, spelling)
			if n := edgeUp.hits.Load() - before; n != 0 {
				t.Errorf("got %d requests to edge's upstream, want 0", n)
			}
			switch {
			case ok && (err != nil || resp.User.GetName() != hubUser):
				t.Errorf("got ok with user %q err=%v, want the canonical answer %q or a rejection", resp.User.GetName(), err, hubUser)
			case ok:
				accepted++
			case err == nil:
				t.Errorf("got a rejection without a reason, want an error")
			}
		})
	}
	// Only surrounding whitespace is canonical; everything else is refused.
	if accepted == 0 {
		t.Errorf("got no spelling answered like the canonical token, want the whitespace-trimmed ones")
	}
	if n := hubUp.hits.Load(); n != 0 {
		t.Errorf("got %d requests to hub's own upstream, want 0: no spelling needs it", n)
	}
}

// signRaw signs exactly the given header and payload bytes with RS256, so
// tests can build JSON no JOSE library would write.
func signRaw(t testing.TB, key *rsa.PrivateKey, header, payload string) string {
	t.Helper()
	input := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	token := input + "." + base64.RawURLEncoding.EncodeToString(sig)
	secretscan.Register(token, "signRaw")
	return token
}

// TestChainJWTWithWhitespaceJSON: a JWT whose header and claims JSON start
// with whitespace is valid JSON, and go-jose and kube-apiserver verify it.
// It is hub's token: hub answers it, and it never reaches the opaque
// upstream, nor any of its re-encodings.
func TestChainJWTWithWhitespaceJSON(t *testing.T) {
	hubUp, edgeUp := newFakeUpstream(t, answerSA), newFakeUpstream(t, answerSA)
	c := newChain(t, withOpaqueEdge(t, hubConfig(t, hubUp, onFailure), edgeUp))
	ctx := authenticator.WithAudiences(context.Background(), authenticator.Audiences{issuerURL})
	claims, err := json.Marshal(boundClaims(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	trusted, _ := testKeys()
	token := signRaw(t, trusted, ` {"alg":"RS256","kid":"`+knownKid+`","typ":"JWT"}`, "  "+string(claims))

	resp, ok, err := c.AuthenticateToken(ctx, token)
	if !ok || err != nil || resp.User.GetName() != hubUser {
		t.Fatalf("got ok=%v err=%v, want %s", ok, err, hubUser)
	}
	for name, spelling := range reencodings(token) {
		t.Run(name, func(t *testing.T) {
			if _, ok, err := c.AuthenticateToken(ctx, spelling); ok || err == nil {
				t.Errorf("got ok=%v err=%v, want a refusal", ok, err)
			}
		})
	}
	if n := edgeUp.hits.Load(); n != 0 {
		t.Errorf("got %d requests to edge's upstream, want 0", n)
	}
}

// withOpaqueEdge adds issuer edge, whose upstream also takes opaque tokens.
func withOpaqueEdge(t testing.TB, cfg *v1alpha1.Configuration, edgeUp *fakeUpstream) *v1alpha1.Configuration {
	t.Helper()
	_, stray := testKeys()
	cfg.Issuers = append(cfg.Issuers, v1alpha1.Issuer{
		Name: "edge", URL: "https://edge.test", StaticKeys: &v1alpha1.StaticKeys{JWKS: jwksOf(t, stray.Public(), edgeKid)},
		Upstream: &v1alpha1.Upstream{Kubeconfig: edgeUp.kubeconfig(t), Policy: always},
	})
	cfg.OpaqueTokenUpstream = "edge"
	return cfg
}

// esTwin is an ES256 token with its signature's s replaced by n-s: the
// other valid spelling of the same token. high says whether the twin's s
// is in the upper half of the group order.
func esTwin(token string) (twin string, high bool) {
	dot := strings.LastIndexByte(token, '.')
	sig, _ := base64.RawURLEncoding.DecodeString(token[dot+1:])
	half := len(sig) / 2
	n := elliptic.P256().Params().N
	s := new(big.Int).SetBytes(sig[half:])
	s.Sub(n, s)
	out := bytes.Clone(sig)
	s.FillBytes(out[half:])
	high = s.Cmp(new(big.Int).Rsh(n, 1)) > 0
	return token[:dot+1] + base64.RawURLEncoding.EncodeToString(out), high
}

// esHighS is the spelling of an ES256 token whose s is high.
func esHighS(token string) string {
	if twin, high := esTwin(token); high {
		return twin
	}
	return token
}

// esConfig is hub with an ES256 key instead of its RSA key.
func esConfig(t testing.TB, up *fakeUpstream, policy v1alpha1.UpstreamPolicy) (*v1alpha1.Configuration, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cfg := hubConfig(t, up, policy)
	cfg.Issuers[0].StaticKeys.JWKS = jwksOf(t, key.Public(), "ec1")
	return cfg, key
}

func signES256(t testing.TB, key *ecdsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	token, err := jwstest.Sign(key, jose.ES256, "ec1", string(payload), map[string]any{"typ": "JWT"})
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// TestChainES256OneSpelling: (r, s) and (r, n-s) are one ES256 token. Both
// get the same answer from one cache entry, and an upstream sees one
// spelling, the low-S one. A secret-based token is sent upstream byte for
// byte as presented: kube-apiserver compares it with its Secret.
func TestChainES256OneSpelling(t *testing.T) {
	tests := []struct {
		name     string
		policy   v1alpha1.UpstreamPolicy
		claims   map[string]any
		wantSent int // upstream reviews for both spellings
	}{
		{"verified locally", never, boundClaims(time.Now()), 0},
		{"confirmed upstream", always, boundClaims(time.Now()), 1},
		{"secret-based, two spellings upstream", onFailure, legacyClaims(), 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := newFakeUpstream(t, answerSA)
			cfg, key := esConfig(t, up, tc.policy)
			c := newChain(t, cfg)
			ctx := authenticator.WithAudiences(context.Background(), authenticator.Audiences{issuerURL})
			high := esHighS(signES256(t, key, tc.claims))
			low, _ := esTwin(high)
			for _, spelling := range []string{high, low} {
				if resp, ok, err := c.AuthenticateToken(ctx, spelling); !ok || err != nil || resp.User.GetName() != hubUser {
					t.Fatalf("got ok=%v err=%v, want %s", ok, err, hubUser)
				}
			}
			sent := up.sent()
			if len(sent) != tc.wantSent {
				t.Fatalf("got %d upstream reviews, want %d", len(sent), tc.wantSent)
			}
			if tc.wantSent == 1 && sent[0].Token != low {
				t.Errorf("got the high-S spelling sent upstream, want the low-S one")
			}
			if tc.wantSent == 2 && (sent[0].Token != high || sent[1].Token != low) {
				t.Errorf("got a secret-based token re-spelled upstream, want each sent as presented")
			}
			if want := 1 + tc.wantSent/2; c.cache.Len() != want {
				t.Errorf("got %d cache entries, want %d", c.cache.Len(), want)
			}
		})
	}
}

// TestChainRefusesCaseFoldedClaims: encoding/json (go-oidc, kube-apiserver's
// OIDC authenticator) reads "AUD" as aud and keeps the last; tokenfed's own
// reads do not. A token whose header or claims have names equal under that
// folding is refused as malformed on every path, before any verifier reads
// it, even when a signature makes it valid.
func TestChainRefusesCaseFoldedClaims(t *testing.T) {
	trusted, _ := testKeys()
	now := time.Now()
	withExtra := func(claims map[string]any, name string, v any) map[string]any {
		claims[name] = v
		return claims
	}
	tests := []struct {
		name  string
		token string
	}{
		{"service account, aud and AUD", sign(t, trusted, knownKid, withExtra(boundClaims(now), "AUD", []string{"tokenfed"}))},
		{"service account, sub with a long s", sign(t, trusted, knownKid, withExtra(boundClaims(now), "\u017fub", "system:serviceaccount:kube-system:admin"))},
		{"OIDC, aud and AUD", sign(t, trusted, "idp-key", withExtra(withExtra(oidcClaims(now), "aud", "app-x"), "AUD", "kubernetes"))},
		{"OIDC, Iss", sign(t, trusted, "idp-key", withExtra(oidcClaims(now), "Iss", issuerURL))},
		{"header, kid and KID", signRaw(t, trusted, `{"alg":"RS256","kid":"`+knownKid+`","KID":"edge-key"}`, mustJSON(boundClaims(now)))},
	}
	c := newChain(t, federation(t))
	ctx := authenticator.WithAudiences(context.Background(), authenticator.Audiences{"kubernetes"})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok, err := c.AuthenticateToken(ctx, tc.token); ok || !errors.Is(err, jws.ErrMalformed) {
				t.Fatalf("got ok=%v err=%v, want %v", ok, err, jws.ErrMalformed)
			}
		})
	}
}
