package jwt

import (
	"slices"
	"testing"

	"k8s.io/apiserver/pkg/apis/apiserver"
)

// bareNameCases: what each claim mapping yields from empty claims. A name
// of literals alone is the operator's choice and is never bare; "" is left
// to package mapping.
var bareNameCases = []struct {
	name          string
	username      apiserver.PrefixedClaimOrExpression
	groups        apiserver.PrefixedClaimOrExpression
	wantUsernames []string
	wantGroups    []string
}{
	{name: "claims with prefixes",
		username:      apiserver.PrefixedClaimOrExpression{Claim: "sub", Prefix: ptr("oidc:")},
		groups:        apiserver.PrefixedClaimOrExpression{Claim: "groups", Prefix: ptr("g:")},
		wantUsernames: []string{"oidc:"}, wantGroups: []string{"g:"}},
	{name: "claims without prefixes",
		username: apiserver.PrefixedClaimOrExpression{Claim: "sub", Prefix: ptr("")},
		groups:   apiserver.PrefixedClaimOrExpression{Claim: "groups"}},
	{name: "CEL prefix and suffix",
		username:      apiserver.PrefixedClaimOrExpression{Expression: `"oidc:" + claims.sub + "@corp"`},
		wantUsernames: []string{"oidc:@corp"}},
	{name: "CEL claim between literals, each side empty",
		username:      apiserver.PrefixedClaimOrExpression{Expression: `claims.tenant + "/" + claims.sub`},
		wantUsernames: []string{"/"}},
	{name: "CEL conditional",
		username:      apiserver.PrefixedClaimOrExpression{Expression: `has(claims.email) ? "mail:" + claims.email : "sub:" + claims.sub`},
		wantUsernames: []string{"mail:", "sub:"}},
	{name: "CEL literal branch is a chosen name",
		username:      apiserver.PrefixedClaimOrExpression{Expression: `claims.sub == "root" ? "nobody" : "u:" + claims.sub`},
		wantUsernames: []string{"u:"}},
	{name: "CEL claim alone",
		username: apiserver.PrefixedClaimOrExpression{Expression: `claims.sub`},
		groups:   apiserver.PrefixedClaimOrExpression{Expression: `claims.groups`}},
	{name: "CEL map over groups",
		groups:     apiserver.PrefixedClaimOrExpression{Expression: `claims.groups.map(g, "g:" + g)`},
		wantGroups: []string{"g:"}},
	{name: "CEL filter of a map, and an added literal group",
		groups:     apiserver.PrefixedClaimOrExpression{Expression: `claims.groups.map(g, "g:" + g).filter(g, g != "g:admin") + ["everyone"]`},
		wantGroups: []string{"g:"}},
	{name: "CEL map with a filter clause",
		groups:     apiserver.PrefixedClaimOrExpression{Expression: `claims.groups.map(g, g != "x", "g:" + g)`},
		wantGroups: []string{"g:"}},
	{name: "CEL list literal",
		groups:     apiserver.PrefixedClaimOrExpression{Expression: `["team:" + claims.team, "all"]`},
		wantGroups: []string{"team:"}},
	{name: "CEL single string group",
		groups:     apiserver.PrefixedClaimOrExpression{Expression: `"role:" + claims.role`},
		wantGroups: []string{"role:"}},
	{name: "CEL optional syntax",
		username:      apiserver.PrefixedClaimOrExpression{Expression: `"u:" + claims.?preferred_username.orValue(claims.sub)`},
		wantUsernames: []string{"u:"}},
}

func TestBareNames(t *testing.T) {
	for _, tc := range bareNameCases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := newBareNames(apiserver.ClaimMappings{Username: tc.username, Groups: tc.groups})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(b.usernames, tc.wantUsernames) || !slices.Equal(b.groups, tc.wantGroups) {
				t.Fatalf("got usernames %q groups %q, want %q %q", b.usernames, b.groups, tc.wantUsernames, tc.wantGroups)
			}
		})
	}
}

// A conditional inside a concatenation doubles the values; the analysis
// stays bounded.
func TestBareNamesBounded(t *testing.T) {
	expr := `claims.sub`
	for range 12 {
		expr = `(has(claims.a) ? "a" : "b") + ` + expr
	}
	b, err := newBareNames(apiserver.ClaimMappings{Username: apiserver.PrefixedClaimOrExpression{Expression: expr}})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.usernames) > maxBareNames {
		t.Fatalf("got %d bare usernames, want at most %d", len(b.usernames), maxBareNames)
	}
}
