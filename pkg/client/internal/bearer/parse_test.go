package bearer

import (
	"strings"
	"testing"
)

var tokenCases = []struct {
	name      string
	values    []string
	wantToken string
	want      *Problem
}{
	{name: "bearer", values: []string{"Bearer abc.DEF-ghi_~+/=="}, wantToken: "abc.DEF-ghi_~+/=="},
	{name: "scheme in any case", values: []string{"bEaReR tok"}, wantToken: "tok"},
	{name: "several spaces (1*SP)", values: []string{"Bearer   tok"}, wantToken: "tok"},
	{name: "surrounding whitespace is not the value", values: []string{" \tBearer tok \t"}, wantToken: "tok"},
	{name: "padding only at the end", values: []string{"Bearer a="}, wantToken: "a="},
	{name: "none", values: nil, want: ErrNoCredentials},
	{name: "other scheme", values: []string{"Basic dXNlcjpwYXNz"}, want: ErrOtherScheme},
	{name: "other scheme alone", values: []string{"Negotiate"}, want: ErrOtherScheme},
	{name: "scheme prefix is not bearer", values: []string{"Bearerx tok"}, want: ErrOtherScheme},
	{name: "two fields", values: []string{"Bearer a", "Bearer b"}, want: ErrRepeated},
	{name: "two fields, one empty", values: []string{"Bearer a", ""}, want: ErrRepeated},
	{name: "empty", values: []string{""}, want: ErrEmpty},
	{name: "only whitespace", values: []string{" \t "}, want: ErrEmpty},
	{name: "tab after scheme", values: []string{"Bearer\ttok"}, want: ErrBadScheme},
	{name: "separator in scheme", values: []string{"Bearer:tok"}, want: ErrBadScheme},
	{name: "leading comma", values: []string{", Bearer tok"}, want: ErrBadScheme},
	{name: "bearer alone", values: []string{"Bearer"}, want: ErrNoToken},
	{name: "bearer and spaces", values: []string{"Bearer    "}, want: ErrNoToken},
	{name: "two tokens", values: []string{"Bearer a b"}, want: ErrBadToken},
	{name: "list of credentials", values: []string{"Bearer a, Bearer b"}, want: ErrBadToken},
	{name: "comma", values: []string{"Bearer a,b"}, want: ErrBadToken},
	{name: "auth-param form", values: []string{`Bearer token="a"`}, want: ErrBadToken},
	{name: "only padding", values: []string{"Bearer =="}, want: ErrBadToken},
	{name: "padding inside", values: []string{"Bearer a=b"}, want: ErrBadToken},
	{name: "tab inside", values: []string{"Bearer a\tb"}, want: ErrBadToken},
	{name: "non-ASCII", values: []string{"Bearer tök"}, want: ErrBadToken},
	{name: "NUL", values: []string{"Bearer a\x00b"}, want: ErrBadToken},
}

func TestToken(t *testing.T) {
	for _, tc := range tokenCases {
		t.Run(tc.name, func(t *testing.T) {
			got, p := Token(tc.values)
			if p != tc.want {
				t.Fatalf("got problem %v, want %v", p, tc.want)
			}
			if got != tc.wantToken {
				t.Fatalf("got token %q, want %q", got, tc.wantToken)
			}
		})
	}
}

// TestProblemDescriptions: every description may go into an RFC 6750
// error_description as it is (%x20-21 / %x23-5B / %x5D-7E).
func TestProblemDescriptions(t *testing.T) {
	for _, p := range []*Problem{ErrNoCredentials, ErrOtherScheme, ErrRepeated, ErrEmpty, ErrBadScheme, ErrNoToken, ErrBadToken} {
		if p.Description == "" || strings.ContainsFunc(p.Description, func(r rune) bool { return r < 0x20 || r > 0x7e || r == '"' || r == '\\' }) {
			t.Errorf("description %q: got characters outside RFC 6750's error_description set, want none", p.Description)
		}
		if p.Error() != p.Description {
			t.Errorf("got Error() %q, want the description %q", p.Error(), p.Description)
		}
	}
}
