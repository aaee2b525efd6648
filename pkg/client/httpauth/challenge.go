package httpauth

import (
	"net/http"
	"strings"
)

// challenge answers code with a Bearer challenge (RFC 6750 §3) and a short
// text body. errCode is empty for a request without credentials: §3.1 says
// a client that did not know authentication was needed gets no error code.
func (m *Middleware) challenge(w http.ResponseWriter, code int, errCode, description, body string) {
	w.Header().Set("WWW-Authenticate", bearerChallenge(m.realm, errCode, description))
	http.Error(w, http.StatusText(code)+": "+body, code)
}

// bearerChallenge formats `Bearer realm="...", error="...",
// error_description="..."`, leaving out the empty parameters.
func bearerChallenge(realm, errCode, description string) string {
	var params []string
	if realm != "" {
		params = append(params, "realm="+quote(realm))
	}
	if errCode != "" {
		params = append(params, "error="+quote(errCode))
	}
	if description != "" {
		params = append(params, "error_description="+quote(strings.Map(descriptionChar, description)))
	}
	if len(params) == 0 {
		return "Bearer"
	}
	return "Bearer " + strings.Join(params, ", ")
}

// quote makes s an RFC 7230 §3.2.6 quoted-string: '"' and '\' become
// quoted-pairs. Control characters other than tab cannot be sent at all
// and are dropped (New refuses a realm with one).
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case isCTL(rune(c)):
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// isCTL: the characters a quoted-string cannot carry, even as a
// quoted-pair.
func isCTL(c rune) bool { return c < 0x20 && c != '\t' || c == 0x7f }

// descriptionChar keeps the characters RFC 6750 §3 allows in
// error_description (%x20-21 / %x23-5B / %x5D-7E) and drops the rest. The
// descriptions are this package's own words; this keeps any future one
// within the grammar.
func descriptionChar(c rune) rune {
	if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
		return -1
	}
	return c
}
