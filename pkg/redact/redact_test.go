package redact

import (
	"strings"
	"testing"
)

// testToken is shaped like a JWT; its segments are what must never leak.
const testToken = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJodHRwczovL2lzc3Vlci50ZXN0Iiwic3ViIjoic3lzdGVtOnNlcnZpY2VhY2NvdW50Om5zOnNhIn0.c2lnbmF0dXJlLWJ5dGVzLXRoYXQtbG9vay1yYW5kb20tZW5vdWdo"

var scrubCases = []struct {
	name, msg string
	want      string
}{
	{name: "ordinary words", msg: "service account token has expired", want: "service account token has expired"},
	{name: "a long word that is not the token", msg: "keys not loaded: discovery https://issuer.test/abcdefghijklmnopqrstuvwxyz", want: "keys not loaded: discovery https://issuer.test/abcdefghijklmnopqrstuvwxyz"},
	{name: "the whole token", msg: "got " + testToken, want: Withheld},
	{name: "the header segment", msg: "header " + strings.Split(testToken, ".")[0] + " is bad", want: Withheld},
	{name: "16 bytes of the payload", msg: "payload ..." + strings.Split(testToken, ".")[1][10:26] + "...", want: Withheld},
	{name: "15 bytes of the payload", msg: "payload ..." + strings.Split(testToken, ".")[1][10:25] + "...", want: "payload ..." + strings.Split(testToken, ".")[1][10:25] + "..."},
}

func TestScrub(t *testing.T) {
	for _, tc := range scrubCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Scrub(tc.msg, testToken); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// A cached rejection costs scrub on every answer: it must stay cheap.
func BenchmarkScrub(b *testing.B) {
	for b.Loop() {
		Scrub("token issuer is not trusted", testToken)
	}
}
