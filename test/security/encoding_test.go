package security

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
)

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// respellings turn a valid token (header, payload, signature) into another
// spelling of the same bytes, which lenient decoders accept. One token must
// have one spelling, or it could dodge a cache entry or a deny list.
var respellings = []struct {
	name    string
	spell   func(h, p, s string) string
	wantErr string
}{
	{"padding on the header", func(h, p, s string) string { return pad(h) + "." + p + "." + s }, errMalformed},
	{"padding on the payload", func(h, p, s string) string { return h + "." + pad(p) + "." + s }, errMalformed},
	{"padding on the signature", func(h, p, s string) string { return h + "." + p + "." + pad(s) }, errMalformed},
	{"standard alphabet", func(h, p, s string) string { return toStdAlphabet(h + "." + p + "." + s) }, errMalformed},
	{"trailing bits of the payload", func(h, p, s string) string { return h + "." + trailingBits(p) + "." + s }, errMalformed},
	{"trailing bits of the signature", func(h, p, s string) string { return h + "." + p + "." + trailingBits(s) }, errMalformed},
	{"line break in the payload", func(h, p, s string) string { return h + "." + p[:20] + "\n" + p[20:] + "." + s }, errMalformed},
	{"CRLF in the signature", func(h, p, s string) string { return h + "." + p + "." + s[:20] + "\r\n" + s[20:] }, errMalformed},
	{"space in the header", func(h, p, s string) string { return h[:8] + " " + h[8:] + "." + p + "." + s }, errMalformed},
	{"trailing dot", func(h, p, s string) string { return h + "." + p + "." + s + "." }, errMalformed},
	{"Bearer scheme", func(h, p, s string) string { return "Bearer " + h + "." + p + "." + s }, "Bearer"},
	{"header and payload only", func(h, p, s string) string { return h + "." + p }, "contains a JWT"},
}

// canonicalSpellings differ from the token only by surrounding whitespace,
// which kube-apiserver trims from bearer tokens too: they are the token.
var canonicalSpellings = map[string]string{
	"trailing newline": "%s\n", "leading space": " %s", "CRLF": "%s\r\n", "tabs around": "\t%s\t",
}

// TestCanonicalSpellings: the token, read from a file that ends in a
// newline or pasted with spaces, is the token, over HTTP as in the chain.
func TestCanonicalSpellings(t *testing.T) {
	iss := newFakeIssuer(t)
	tf := startTokenfed(t, edgeConfig(iss, v1alpha1.Fetch{}))
	token, jti := respellableToken(t, iss)
	for name, format := range canonicalSpellings {
		t.Run(name, func(t *testing.T) {
			assertAccepted(t, tf.review(t, fmt.Sprintf(format, token)), jti, []string{iss.URL()})
		})
	}
}

// TestNonCanonicalEncodings: every respelling of a valid token is refused,
// both before the token was ever seen and while its success is cached, and
// the token itself is accepted throughout.
func TestNonCanonicalEncodings(t *testing.T) {
	iss := newFakeIssuer(t)
	tf := startTokenfed(t, edgeConfig(iss, v1alpha1.Fetch{}))
	for _, order := range []string{"respellings first", "token first"} {
		t.Run(order, func(t *testing.T) {
			token, jti := respellableToken(t, iss)
			if order == "token first" {
				assertAccepted(t, tf.review(t, token), jti, []string{iss.URL()})
			}
			seg := strings.Split(token, ".")
			for _, tc := range respellings {
				t.Run(tc.name, func(t *testing.T) {
					variant := tc.spell(seg[0], seg[1], seg[2])
					if variant == token {
						t.Fatalf("got the token itself as %s, want another spelling", tc.name)
					}
					assertRejected(t, tf.review(t, variant), variant, tc.wantErr)
				})
			}
			assertAccepted(t, tf.review(t, token), jti, []string{iss.URL()})
		})
	}
}

// respellableToken is a valid RS256 token that every respelling changes: its
// segments have partial final quanta and it contains '-' or '_'.
func respellableToken(t *testing.T, iss *fakeIssuer) (string, string) {
	t.Helper()
	for i := range 200 {
		// A jti of varying length varies the payload's final quantum.
		token, jti := iss.token(t, rs256, map[string]any{"jti": randomID()[:16+i%4]})
		seg := strings.Split(token, ".")
		if strings.ContainsAny(token, "-_") && len(seg[0])%4 != 0 && len(seg[1])%4 != 0 && len(seg[2])%4 != 0 {
			return token, jti
		}
	}
	t.Fatal("got no token with respellable segments in 200 tries, want one")
	return "", ""
}

// pad adds the '=' padding that RawURLEncoding omits.
func pad(seg string) string {
	return seg + strings.Repeat("=", (4-len(seg)%4)%4)
}

func toStdAlphabet(s string) string {
	return strings.NewReplacer("-", "+", "_", "/").Replace(s)
}

// trailingBits sets a bit of the last character that encodes no data, so
// a non-strict decoder reads the same bytes.
func trailingBits(seg string) string {
	last := strings.IndexByte(b64Alphabet, seg[len(seg)-1])
	out := seg[:len(seg)-1] + string(b64Alphabet[last^1])
	a, errA := base64.RawURLEncoding.DecodeString(seg)
	b, errB := base64.RawURLEncoding.DecodeString(out)
	if errA != nil || errB != nil || string(a) != string(b) {
		panic("trailingBits changed the decoded bytes")
	}
	return out
}
