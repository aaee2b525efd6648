package bearer

import (
	"encoding/base64"
	"strings"
	"testing"
)

// TestQuotesAnyLength: a token of any length is found whole, and any
// minQuote bytes of a longer one are found anywhere in the text.
func TestQuotesAnyLength(t *testing.T) {
	const alphabet = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-._~+/"
	for n := 1; n <= len(alphabet); n++ {
		token := alphabet[:n]
		if !Quotes("error: "+token+"!", token) {
			t.Errorf("%d-byte token: got not quoted, want quoted when whole", n)
		}
		if n > minQuote {
			piece := token[n-minQuote:]
			if !Quotes("got ..."+piece+" in a URL", token) {
				t.Errorf("%d-byte token: got %d bytes of it not quoted, want quoted", n, minQuote)
			}
		}
	}
}

func TestQuotes(t *testing.T) {
	const token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl"
	for _, tc := range []struct {
		name, s string
		want    bool
	}{
		{"ordinary words", "tokenfed is unavailable: connection refused", false},
		{"a user", "hub:system:serviceaccount:devices:device-1", false},
		{"7 bytes", "x" + token[3:10] + "x", false},
		{"8 bytes", "x:" + token[3:11] + ":x", true},
		{"8 bytes across a dot", "(" + token[16:24] + ")", true},
		{"the signature", "sig " + strings.Split(token, ".")[2], true},
		{"empty text", "", false},
		{"base64 of it is not found", base64.StdEncoding.EncodeToString([]byte(token)), false},
	} {
		if got := Quotes(tc.s, token); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
	if Quotes("anything", "") {
		t.Error("empty token: got quoted, want not")
	}
}
