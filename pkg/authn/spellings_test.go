package authn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/authentication/authenticator"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
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
	return out
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
	cfg := hubConfig(t, hubUp, onFailure)
	_, stray := testKeys()
	cfg.Issuers = append(cfg.Issuers, v1alpha1.Issuer{
		Name: "edge", URL: "https://edge.test", StaticKeys: &v1alpha1.StaticKeys{JWKS: jwksOf(t, stray.Public(), edgeKid)},
		Upstream: &v1alpha1.Upstream{Kubeconfig: edgeUp.kubeconfig(t), Policy: always},
	})
	cfg.OpaqueTokenUpstream = "edge"
	c := newChain(t, cfg)
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
