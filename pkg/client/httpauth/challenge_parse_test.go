package httpauth_test

import (
	"fmt"
	"strings"
	"testing"
)

// parseChallenge parses one challenge of a WWW-Authenticate field strictly
// (RFC 7235 §2.1, auth-param form only): scheme, then name=value pairs
// where a value is a token or a quoted-string, whose quoted-pairs it
// unescapes. Anything else is an error, so a test that parses a header
// also proves it well-formed.
func parseChallenge(h string) (scheme string, params map[string]string, err error) {
	scheme, rest := takeToken(h)
	if scheme == "" {
		return "", nil, fmt.Errorf("no auth-scheme in %q", h)
	}
	params = map[string]string{}
	if rest == "" {
		return scheme, params, nil
	}
	if !strings.HasPrefix(rest, " ") {
		return "", nil, fmt.Errorf("no space after the scheme in %q", h)
	}
	rest = strings.TrimLeft(rest, " ")
	for {
		var name, value string
		name, rest = takeToken(rest)
		rest = strings.TrimLeft(rest, " \t")
		if name == "" || !strings.HasPrefix(rest, "=") {
			return "", nil, fmt.Errorf("malformed auth-param at %q in %q", rest, h)
		}
		rest = strings.TrimLeft(rest[1:], " \t")
		if strings.HasPrefix(rest, `"`) {
			value, rest, err = takeQuoted(rest)
			if err != nil {
				return "", nil, fmt.Errorf("%w in %q", err, h)
			}
		} else if value, rest = takeToken(rest); value == "" {
			return "", nil, fmt.Errorf("empty value of %s in %q", name, h)
		}
		name = strings.ToLower(name)
		if _, dup := params[name]; dup {
			return "", nil, fmt.Errorf("repeated %s in %q", name, h)
		}
		params[name] = value
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			return scheme, params, nil
		}
		if !strings.HasPrefix(rest, ",") {
			return "", nil, fmt.Errorf("expected a comma at %q in %q", rest, h)
		}
		rest = strings.TrimLeft(rest[1:], " \t")
	}
}

func takeToken(s string) (token, rest string) {
	i := 0
	for i < len(s) && (s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || s[i] >= '0' && s[i] <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", s[i]) >= 0) {
		i++
	}
	return s[:i], s[i:]
}

// takeQuoted reads a quoted-string at the start of s.
func takeQuoted(s string) (value, rest string, err error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return b.String(), s[i+1:], nil
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case c < 0x20 && c != '\t' || c == 0x7f:
			return "", "", fmt.Errorf("control character %#x in a quoted-string", c)
		default:
			b.WriteByte(c)
		}
	}
	return "", "", fmt.Errorf("unterminated quoted-string")
}

// TestParseChallenge keeps the parser honest: it must refuse what a broken
// formatter could produce.
func TestParseChallenge(t *testing.T) {
	good := []struct {
		in     string
		params map[string]string
	}{
		{`Bearer`, map[string]string{}},
		{`Bearer realm="a \"b\" \\ c", error=invalid_token`, map[string]string{"realm": `a "b" \ c`, "error": "invalid_token"}},
		{`Bearer realm="x" ,Error="y"`, map[string]string{"realm": "x", "error": "y"}},
	}
	for _, tc := range good {
		scheme, params, err := parseChallenge(tc.in)
		if err != nil || scheme != "Bearer" || fmt.Sprint(params) != fmt.Sprint(tc.params) {
			t.Errorf("parseChallenge(%q): got %q %v %v, want Bearer %v", tc.in, scheme, params, err, tc.params)
		}
	}
	for _, in := range []string{``, `Bearer realm="x`, `Bearer realm="a"b"`, `Bearer realm="x" error="y"`, `Bearer realm=`, `Bearer realm="x", realm="y"`, "Bearer realm=\"a\nb\"", `Bearer ,`} {
		if _, _, err := parseChallenge(in); err == nil {
			t.Errorf("parseChallenge(%q): got no error, want one", in)
		}
	}
}
