package route

import (
	"github.com/tokenfed/tokenfed/pkg/authn/jws"

	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
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
		{"newline inside", valid[:10] + "\n" + valid[10:], "", jws.ErrMalformed},
		{"space between segments", strings.Replace(valid, ".", ". ", 1), "", jws.ErrMalformed},
		{"NUL inside", valid[:5] + "\x00" + valid[5:], "", jws.ErrMalformed},
		{"zero-width space before", "\u200b" + valid, "", jws.ErrMalformed},
		{"byte order mark before", "\ufeff" + valid, "", jws.ErrMalformed},
		{"DEL", valid + "\x7f", "", jws.ErrMalformed},
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

// TestHasControl: the word-at-a-time check finds exactly the bytes the
// plain loop finds, at every position and next to every boundary value.
func TestHasControl(t *testing.T) {
	plain := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if s[i] <= ' ' || s[i] >= 0x7f {
				return true
			}
		}
		return false
	}
	base := strings.Repeat("eyJhbGci", 3)
	for _, c := range []byte{0x00, 0x09, 0x1f, 0x20, 0x21, 0x7e, 0x7f, 0x80, 0xfe, 0xff} {
		for pos := range len(base) {
			for n := pos + 1; n <= len(base); n++ {
				s := base[:pos] + string([]byte{c}) + base[pos+1:n]
				if got, want := hasControl(s), plain(s); got != want {
					t.Fatalf("hasControl(%q) = %v, want %v", s, got, want)
				}
			}
		}
	}
	// Several boundary bytes at once.
	r := rand.New(rand.NewPCG(3, 4))
	const alphabet = "\x00\x1f\x20\x21\x7e\x7f\x80\xffaZ9-."
	for range 100_000 {
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
			if r.IntN(4) > 0 {
				b[i] = 'e'
			}
		}
		if got, want := hasControl(string(b)), plain(string(b)); got != want {
			t.Fatalf("hasControl(%q) = %v, want %v", b, got, want)
		}
	}
}

func TestCheckOpaque(t *testing.T) {
	valid := tok(hdr, pl, sig)
	segs := strings.Split(valid, ".")
	std := base64.StdEncoding.EncodeToString
	b32 := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString
	wsToken := tok(" "+hdr, "\n  "+pl, sig)
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
		{"hex, 40 characters", "3f786850e387550fdab836ed7e6dc881de23001b", nil},
		{"GitHub personal access token", "ghp_16C7e42F292c6912E7710c838347Ae178B4a", nil},
		{"base64 of text", std([]byte("a token that is only text, with no JWT in it\n")), nil},

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

		// Re-encoded by a tool: a token file ends in a newline.
		{"base64 -w0 of a token file", std([]byte(valid + "\n")), ErrContainsJWT},
		{"base64url of the token and CRLF", enc([]byte(valid + "\r\n")), ErrContainsJWT},
		{"base64 twice", std([]byte(std([]byte(valid + "\n")))), ErrContainsJWT},
		{"base64 glued after a prefix", "x" + std([]byte(valid)), ErrContainsJWT},
		{"base64 of the token wrapped at 76", std([]byte(every(std([]byte(valid)), "\n", 76))), ErrContainsJWT},
		{"base64 of quoted-printable soft breaks", std([]byte(every(valid, "=\r\n", 75))), ErrContainsJWT},
		{"base64 of the token percent-encoded", std([]byte(strings.ReplaceAll(valid, ".", "%2E"))), ErrContainsJWT},
		{"hex", hex.EncodeToString([]byte(valid)), ErrContainsJWT},
		{"hex, upper case", strings.ToUpper(hex.EncodeToString([]byte(valid))), ErrContainsJWT},
		{"hex glued after a prefix", "xyz" + hex.EncodeToString([]byte(valid)), ErrContainsJWT},
		{"hex of a token file, dash every 2", every(hex.EncodeToString([]byte(valid+"\n")), "-", 2), ErrContainsJWT},
		{"base64 of a hex dump", std([]byte(every(hex.EncodeToString([]byte(valid)), " ", 4))), ErrContainsJWT},
		{"base64 of UTF-16LE, as PowerShell encodes", std(utf16LE(valid)), ErrContainsJWT},
		{"hex of UTF-16BE", hex.EncodeToString(utf16LE(valid)[1:]), ErrContainsJWT},
		{"base32", b32([]byte(valid)), ErrContainsJWT},
		{"base32, lower case", strings.ToLower(b32([]byte(valid + "\n"))), ErrContainsJWT},

		// Cut up: no segment start is left whole.
		{"tilde every 8 characters", every(strings.ReplaceAll(valid, ".", ""), "~", 8), ErrContainsJWT},
		{"dot every 11 characters, after a prefix", "x." + every(valid, ".", 11), ErrContainsJWT},
		{"dash every 4 characters", every(valid, "-", 4), ErrContainsJWT},
		{"x every 3 characters, after a short group", "ab" + "x" + every(valid, "x", 3), ErrContainsJWT},
		{"underscore every 64 characters, segments glued", every(strings.ReplaceAll(valid, ".", ""), "_", 64), ErrContainsJWT},
		{"dots as x", strings.ReplaceAll(valid, ".", "x"), ErrContainsJWT},

		// Re-cased anywhere, not only at a run's start.
		{"lower-cased, a character glued before each segment", "x" + strings.ToLower(segs[0]) + ".x" + strings.ToLower(segs[1]) + ".x" + strings.ToLower(segs[2]), ErrContainsJWT},
		{"upper-cased, glued prefix, dots as x", "X" + strings.ToUpper(strings.ReplaceAll(valid, ".", "x")), ErrContainsJWT},
		{"swap-cased payload glued after text", "abc" + swapCase(segs[1]), ErrContainsJWT},
		{"upper-cased header whose JSON starts with a space", "ab" + strings.ToUpper(enc([]byte(" "+hdr))), ErrContainsJWT},

		// JSON with whitespace before or after the brace.
		{"header with a space before the brace", enc([]byte(" " + hdr)), ErrContainsJWT},
		{"payload with a newline and indent before the brace", "abc." + enc([]byte("\n  "+pl)), ErrContainsJWT},
		{"two segments of a token whose JSON starts with whitespace", strings.Join(strings.Split(wsToken, ".")[:2], "."), ErrContainsJWT},
		{"a token whose JSON starts with whitespace, glued", "x" + wsToken, ErrContainsJWT},
		{"pretty-printed header", enc([]byte("{\n  \"alg\": \"RS256\"\n}")), ErrContainsJWT},

		{"JWS JSON serialization", `{"payload":"` + segs[1] + `","protected":"` + segs[0] + `","signature":"` + segs[2] + `"}`, ErrContainsJWT},
		{"percent-encoded dots", strings.ReplaceAll(valid, ".", "%2E"), ErrContainsJWT},
		{"quoted", `"` + valid + `"`, ErrContainsJWT},
		{"scheme with a colon", "Bearer:" + valid, ErrBearerScheme},
		{"scheme glued on", "Bearer" + valid, ErrBearerScheme},

		// Not a b64token: never opaque either.
		{"percent sign", "abc%41def", ErrNotB64Token},
		{"JSON", `{"token":"abc"}`, ErrNotB64Token},
		{"only padding", "==", ErrNotB64Token},
		{"padding inside", "ab=cd", ErrNotB64Token},

		// Too costly to search: refused, not sent on unsearched.
		{"16 KiB of one character", strings.Repeat("A", jws.MaxTokenBytes), ErrOpaqueTooCostly},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := CheckOpaque(tc.token); !errors.Is(err, tc.err) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
		})
	}
}

func utf16LE(s string) []byte {
	var b []byte
	for i := 0; i < len(s); i++ {
		b = append(b, s[i], 0)
	}
	return b
}

func swapCase(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z':
			return r - 'a' + 'A'
		case 'A' <= r && r <= 'Z':
			return r - 'A' + 'a'
		}
		return r
	}, s)
}

// opaqueShapes are random opaque tokens in the shapes clusters and tools
// issue. None contains a JWT, so CheckOpaque must accept every one.
func opaqueShapes(r *rand.Rand) []struct {
	name string
	make func() string
} {
	bytesOf := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	from := func(alphabet string, n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	const (
		alnum    = "abcdefghijklmnopqrstuvwxyz0123456789"
		base62   = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
		b64token = base62 + "-._~+/"
	)
	hexOf := func(n int) func() string { return func() string { return hex.EncodeToString(bytesOf(n / 2)) } }
	return []struct {
		name string
		make func() string
	}{
		{"OpenShift sha256~", func() string { return "sha256~" + enc(bytesOf(32)) }},
		{"32 random bytes, base64url", func() string { return enc(bytesOf(32)) }},
		{"64 random bytes, base64url", func() string { return enc(bytesOf(64)) }},
		{"48 random bytes, base64", func() string { return base64.StdEncoding.EncodeToString(bytesOf(48)) }},
		{"bootstrap token", func() string { return from(alnum, 6) + "." + from(alnum, 16) }},
		{"hex, 32 characters", hexOf(32)},
		{"hex, 40 characters", hexOf(40)},
		{"hex, 64 characters", hexOf(64)},
		{"hex, 40 characters, upper case", func() string { return strings.ToUpper(hexOf(40)()) }},
		{"base32 of 20 random bytes", func() string { return base32.StdEncoding.EncodeToString(bytesOf(20)) }},
		{"GitHub-style ghp_", func() string { return "ghp_" + from(base62, 36) }},
		{"b64token characters, 40", func() string { return from(b64token, 40) }},
		{"EKS k8s-aws-v1. presigned URL", func() string { return eksToken(bytesOf, from) }},
	}
}

// eksToken is aws-iam-authenticator's token: a presigned STS URL, base64url.
func eksToken(bytesOf func(int) []byte, from func(string, int) string) string {
	url := "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15" +
		"&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA" + from("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16) +
		"%2F20260101%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=60" +
		"&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Signature=" + hex.EncodeToString(bytesOf(32))
	return "k8s-aws-v1." + enc([]byte(url))
}

// TestCheckOpaqueAcceptsRandomTokens: the JWT detector must not refuse
// real opaque tokens. 200,000 random tokens in the shapes of opaqueShapes
// all pass.
func TestCheckOpaqueAcceptsRandomTokens(t *testing.T) {
	const tries = 200_000
	shapes := opaqueShapes(rand.New(rand.NewPCG(1, 2)))
	refused := make([]int, len(shapes))
	total := 0
	for i := range tries {
		shape := i % len(shapes)
		token := shapes[shape].make()
		if err := CheckOpaque(token); err != nil {
			refused[shape]++
			total++
			t.Logf("%s: refused %q: %v", shapes[shape].name, token, err)
		}
	}
	for i, s := range shapes {
		t.Logf("%s: %d of %d refused", s.name, refused[i], (tries-i+len(shapes)-1)/len(shapes))
	}
	if total != 0 {
		t.Errorf("got %d of %d random opaque tokens refused, want 0", total, tries)
	}
}
