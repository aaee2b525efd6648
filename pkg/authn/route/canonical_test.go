package route

import (
	"encoding/base64"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestCanonical(t *testing.T) {
	valid := tok(hdr, pl, sig)
	tests := []struct {
		name  string
		token string
		want  string
		err   error
	}{
		{"canonical", valid, valid, nil},
		{"trailing newline, as in a token file", valid + "\n", valid, nil},
		{"CRLF", valid + "\r\n", valid, nil},
		{"surrounding spaces and tabs", " \t" + valid + " ", valid, nil},
		{"unicode space around, trimmed as kube-apiserver trims", "\u00a0" + valid + "\u2028", valid, nil},
		{"opaque token is trimmed too", " sha256~abc\n", "sha256~abc", nil},
		{"only whitespace", " \n\t", "", ErrEmpty},
		{"Bearer scheme", "Bearer " + valid, "", ErrBearerScheme},
		{"bearer scheme, lower case", "bearer " + valid, "", ErrBearerScheme},
		{"BEARER scheme with tab", "BEARER\t" + valid, "", ErrBearerScheme},
		{"newline inside", valid[:10] + "\n" + valid[10:], "", ErrMalformed},
		{"space between segments", strings.Replace(valid, ".", ". ", 1), "", ErrMalformed},
		{"NUL inside", valid[:5] + "\x00" + valid[5:], "", ErrMalformed},
		{"zero-width space before", "\u200b" + valid, "", ErrMalformed},
		{"byte order mark before", "\ufeff" + valid, "", ErrMalformed},
		{"DEL", valid + "\x7f", "", ErrMalformed},
		{"a token that starts with bearer but is one word", "bearerabc", "bearerabc", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Canonical(tc.token)
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Fatalf("got %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestCheckOpaque(t *testing.T) {
	valid := tok(hdr, pl, sig)
	segs := strings.Split(valid, ".")
	std := base64.StdEncoding.EncodeToString
	tests := []struct {
		name  string
		token string
		err   error
	}{
		// Real opaque tokens.
		{"OpenShift", "sha256~Xb5sYw9kF0cQ-aZ_1n2pQ3rS4tU5vW6xY7z8AbCdEfG", nil},
		{"bootstrap token", "abcdef.0123456789abcdef", nil},
		{"GCP access token", "ya29.a0AfH6SMBx-Yz_0123456789abcdefghijklmnopqrstuvwxyz", nil},
		{"padded b64token", "c2VjcmV0LXRva2Vu==", nil},
		{"random 64 bytes", enc([]byte(strings.Repeat("\x8f\x01\xfe", 21) + "x")), nil},

		// A JWT, or part of one, is never opaque.
		{"header and payload only", segs[0] + "." + segs[1], ErrContainsJWT},
		{"header and payload, trailing dot", segs[0] + "." + segs[1] + ".", ErrContainsJWT},
		{"payload and signature", segs[1] + "." + segs[2], ErrContainsJWT},
		{"payload alone", segs[1], ErrContainsJWT},
		{"segments reordered", segs[2] + "." + segs[1] + "." + segs[0], ErrContainsJWT},
		{"tilde separators", strings.ReplaceAll(valid, ".", "~"), ErrContainsJWT},
		{"glued to a prefix", "xyz" + valid, ErrContainsJWT},
		{"glued prefix of each alignment", "a" + segs[0], ErrContainsJWT},
		{"glued prefix, two chars", "ab" + segs[0], ErrContainsJWT},
		{"header with whitespace after the brace", enc([]byte("{\n  \"alg\":\"RS256\"}")), ErrContainsJWT},
		{"standard alphabet and padding", std([]byte(hdr)) + "." + std([]byte(pl)), ErrContainsJWT},
		{"whole token base64-encoded again", std([]byte(valid)), ErrContainsJWT},
		{"whole token base64url-encoded again", enc([]byte(valid)), ErrContainsJWT},
		{"upper case", strings.ToUpper(valid), ErrContainsJWT},
		{"lower case", strings.ToLower(valid), ErrContainsJWT},
		{"upper-cased payload after a prefix", "abc." + strings.ToUpper(segs[1]), ErrContainsJWT},

		{"JWS JSON serialization", `{"payload":"` + segs[1] + `","protected":"` + segs[0] + `","signature":"` + segs[2] + `"}`, ErrContainsJWT},
		{"percent-encoded dots", strings.ReplaceAll(valid, ".", "%2E"), ErrContainsJWT},
		{"quoted", `"` + valid + `"`, ErrContainsJWT},
		{"scheme with a colon", "Bearer:" + valid, ErrContainsJWT},

		// Not a b64token: never opaque either.
		{"percent sign", "abc%41def", ErrNotB64Token},
		{"JSON", `{"token":"abc"}`, ErrNotB64Token},
		{"only padding", "==", ErrNotB64Token},
		{"padding inside", "ab=cd", ErrNotB64Token},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := CheckOpaque(tc.token); !errors.Is(err, tc.err) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
		})
	}
}

// TestCheckOpaqueAcceptsRandomTokens: the JWT detector must not refuse
// real opaque tokens. 200,000 random tokens in the shapes clusters issue
// (OpenShift sha256~, 32 and 64 random bytes, bootstrap tokens) all pass.
func TestCheckOpaqueAcceptsRandomTokens(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	randomBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	randomAlnum := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alnum[r.IntN(len(alnum))]
		}
		return string(b)
	}
	shapes := []func() string{
		func() string { return "sha256~" + enc(randomBytes(32)) },
		func() string { return enc(randomBytes(32)) },
		func() string { return enc(randomBytes(64)) },
		func() string { return base64.StdEncoding.EncodeToString(randomBytes(48)) },
		func() string { return randomAlnum(6) + "." + randomAlnum(16) },
	}
	refused := 0
	for i := range 200_000 {
		token := shapes[i%len(shapes)]()
		if err := CheckOpaque(token); err != nil {
			refused++
			t.Logf("refused %q: %v", token, err)
		}
	}
	if refused != 0 {
		t.Errorf("got %d random opaque tokens refused, want 0", refused)
	}
}
