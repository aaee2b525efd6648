// Package redact keeps tokens out of text that leaves tokenfed: answers,
// logs and errors. Errors come from the whole chain and the libraries under
// it (the OIDC authenticator, go-jose, CEL, client-go), some of which quote
// what they were given.
package redact

import "strings"

// minQuote is the shortest run of token characters in an error message that
// is compared with the token. Shorter runs are ordinary words and numbers.
const minQuote = 16

// Withheld replaces an error message that quotes the token.
const Withheld = "token rejected; the reason quoted the token and was withheld"

// Scrub returns msg unless it quotes the token, or minQuote bytes of it.
// Errors come from the whole chain and the libraries under it, some of
// which quote what they were given; this is the last place that knows the
// token before msg goes into the answer and the log. It is cheap for the
// usual message: one pass, and a token comparison only for a long run of
// base64url characters, which plain words do not make.
func Scrub(msg, token string) string {
	if len(token) >= minQuote && strings.Contains(msg, token) {
		return Withheld
	}
	for start := 0; start < len(msg); {
		end := start
		for end < len(msg) && isTokenChar(msg[end]) {
			end++
		}
		if end-start >= minQuote && quotes(msg[start:end], token) {
			return Withheld
		}
		start = end + 1
	}
	return msg
}

// quotes reports whether token contains any minQuote-byte window of run.
func quotes(run, token string) bool {
	for i := 0; i+minQuote <= len(run); i++ {
		if strings.Contains(token, run[i:i+minQuote]) {
			return true
		}
	}
	return false
}

// isTokenChar: the base64url alphabet of JWT segments.
func isTokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}
