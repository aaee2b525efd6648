package redact

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// testToken is shaped like a JWT; its segments are what must never leak.
const testToken = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJodHRwczovL2lzc3Vlci50ZXN0Iiwic3ViIjoic3lzdGVtOnNlcnZpY2VhY2NvdW50Om5zOnNhIn0.c2lnbmF0dXJlLWJ5dGVzLXRoYXQtbG9vay1yYW5kb20tZW5vdWdo"

// separatedToken is in the standard base64 alphabet with a separator
// every 14 bytes, so no run of base64url characters in it reaches 16.
var separatedToken = strings.Repeat("Q2xpZW50U2Vj+/", 12) + "cmV0"

var scrubCases = []struct {
	name, msg, token string
	want             string
}{
	{name: "ordinary words", msg: "service account token has expired", want: "service account token has expired"},
	{name: "a long word that is not the token", msg: "keys not loaded: discovery https://issuer.test/abcdefghijklmnopqrstuvwxyz", want: "keys not loaded: discovery https://issuer.test/abcdefghijklmnopqrstuvwxyz"},
	{name: "the whole token", msg: "got " + testToken, want: Withheld},
	{name: "the header segment", msg: "header " + strings.Split(testToken, ".")[0] + " is bad", want: Withheld},
	{name: "16 bytes of the payload", msg: "payload ..." + strings.Split(testToken, ".")[1][10:26] + "...", want: Withheld},
	{name: "15 bytes of the payload", msg: "payload ..." + strings.Split(testToken, ".")[1][10:25] + "...", want: "payload ..." + strings.Split(testToken, ".")[1][10:25] + "..."},
	{name: "16 bytes across a dot", msg: "near " + testToken[28:44], want: Withheld},

	{name: "separators: 100 bytes", token: separatedToken, msg: "bad token " + separatedToken[:100] + "...", want: Withheld},
	{name: "separators: 16 bytes across them", token: separatedToken, msg: "bad token ..." + separatedToken[5:21] + "...", want: Withheld},
	{name: "separators: 15 bytes", token: separatedToken, msg: "bad token ..." + separatedToken[5:20] + "...", want: "bad token ..." + separatedToken[5:20] + "..."},
	{name: "separators: URL query escaped", token: separatedToken, msg: "GET /?t=" + url.QueryEscape(separatedToken)[:40], want: Withheld},
	{name: "separators: URL path escaped", token: separatedToken, msg: "GET /t/" + url.PathEscape(separatedToken)[:40], want: Withheld},
	{name: "separators: words of its characters", token: separatedToken, msg: "Q2 and U2Vj are fine", want: "Q2 and U2Vj are fine"},

	{name: "a short token whole", token: "Sh0rtS3cretK3y", msg: "bad token Sh0rtS3cretK3y", want: Withheld},
	{name: "a short token: half of it", token: "Sh0rtS3cretK3y", msg: "bad token ...S3cretK3...", want: Withheld},
	{name: "a short token: 7 bytes", token: "Sh0rtS3cretK3y", msg: "bad token ...S3cretK...", want: "bad token ...S3cretK..."},
	{name: "a short token, Go-quoted", token: `Sh0rt"S3cret\K3y`, msg: fmt.Sprintf("an error on the server (%q)", `bad Sh0rt"S3cret\K3y`), want: Withheld},
	{name: "a short token, JSON-escaped", token: "Sh0rt<S3cret>K3y", msg: `{"message":"bad Sh0rt\u003cS3cret\u003eK3y"}`, want: Withheld},
	{name: "8 bytes: the shortest that is told apart", token: "8bytes!!", msg: "fine", want: "fine"},
	{name: "under 8 bytes: a message without it is kept", token: "Sh0rt", msg: "service account token has expired", want: "service account token has expired"},
	{name: "under 8 bytes: a message with all of it is withheld", token: "Sh0rt", msg: "bad token Sh0rt", want: Withheld},
	{name: "under 8 bytes: escaped whole is withheld", token: "<Sh0>", msg: `{"message":"bad \u003cSh0\u003e"}`, want: Withheld},
	{name: "under 8 bytes: an empty message stays empty", token: "Sh0rt", msg: "", want: ""},
	{name: "no token: nothing to withhold", token: "", msg: "no token", want: "no token"},
}

func TestScrub(t *testing.T) {
	for _, tc := range scrubCases {
		t.Run(tc.name, func(t *testing.T) {
			token := tc.token
			if token == "" && !strings.HasPrefix(tc.name, "no token") {
				token = testToken
			}
			if got := Scrub(tc.msg, token); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestWindow(t *testing.T) {
	for n, want := range map[int]int{1: 1, 7: 7, 8: 8, 14: 8, 16: 8, 20: 10, 31: 15, 32: 16, 1000: 16} {
		if got := Window(n); got != want {
			t.Errorf("Window(%d) = %d, want %d", n, got, want)
		}
	}
}

// TestQuotesShortToken: a token under MinToken counts only whole, so
// fields that share a letter with it are not mistaken for quotes.
func TestQuotesShortToken(t *testing.T) {
	for text, want := range map[string]bool{"user-abc": true, "ab-c": false, "": false} {
		if got := Quotes(text, "abc"); got != want {
			t.Errorf("Quotes(%q, abc) = %v, want %v", text, got, want)
		}
	}
}

// TestQuotesLinear: a long text against a long token costs time linear in
// both, not their product.
func TestQuotesLinear(t *testing.T) {
	token := strings.Repeat("abcdefghijklmnopqrstuvwxyz+/", 1<<15) // 896 KiB
	text := strings.Repeat("zyxwvutsrqponmlkjihgfedcba./", 1<<15)
	start := time.Now()
	if Quotes(text, token) {
		t.Fatal("got a quote, want none")
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("took %s", elapsed)
	}
	if !Quotes(text+token[1000:1016], token) {
		t.Fatal("got no quote of 16 bytes at the end of a long text")
	}
}

// A cached rejection costs scrub on every answer: it must stay cheap.
func BenchmarkScrub(b *testing.B) {
	for b.Loop() {
		Scrub("token issuer is not trusted", testToken)
	}
}

// BenchmarkScrubClientText: the client's worst case, 512 bytes of text
// made of the token's own characters.
func BenchmarkScrubClientText(b *testing.B) {
	text := strings.Repeat("Q2xpZW50U2Vj+/", 37)[:512]
	for b.Loop() {
		Scrub(text, testToken)
	}
}

// BenchmarkScrubLongWord: a message with a word as long as a window (a
// URL) takes the full comparison.
func BenchmarkScrubLongWord(b *testing.B) {
	for b.Loop() {
		Scrub("keys not loaded: discovery https://issuer.test/.well-known/openid-configuration", testToken)
	}
}
