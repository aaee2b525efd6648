package bearer

import "strings"

// minQuote is the shortest piece of a token that counts as quoting it. A
// b64token has no minimum length, so a token shorter than this counts as
// quoted wherever it appears whole.
const minQuote = 8

// Quotes reports whether s holds token, or any minQuote bytes of it, for a
// token of any length. It errs on the side of "yes": a random run of eight
// token characters is not an ordinary word.
func Quotes(s, token string) bool {
	if token == "" {
		return false
	}
	if strings.Contains(s, token) {
		return true
	}
	if len(token) <= minQuote {
		return false
	}
	// Only a run of b64token characters can hold a piece of the token, so
	// "edge:system:serviceaccount:ns:sa" costs a few short runs, and a
	// long token is scanned once per window of a long run only.
	for start := 0; start < len(s); {
		end := start
		for end < len(s) && isB64Char(s[end]) {
			end++
		}
		for i := start; i+minQuote <= end; i++ {
			if strings.Contains(token, s[i:i+minQuote]) {
				return true
			}
		}
		start = end + 1
	}
	return false
}

func isB64Char(c byte) bool {
	return isAlnum(c) || strings.IndexByte("-._~+/=", c) >= 0
}
