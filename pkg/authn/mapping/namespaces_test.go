package mapping

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
)

// Map refuses what would turn into a name no one owns, and drops extras
// only tokenfed may set, in any letter case.
func TestMapEdges(t *testing.T) {
	m := New("hub", ServiceAccount, "hub:", nil, nil)
	tests := []struct {
		name      string
		in        user.DefaultInfo
		wantName  string
		wantGroup []string
		wantExtra map[string][]string
		wantErr   error
	}{
		{name: "empty username", in: user.DefaultInfo{Groups: []string{"dev"}}, wantErr: ErrEmptyUsername},
		{name: "empty groups are dropped", in: user.DefaultInfo{Name: "a", Groups: []string{"", "dev", ""}},
			wantName: "hub:a", wantGroup: []string{"hub:dev"}, wantExtra: map[string][]string{IssuerExtraKey: {"hub"}}},
		{name: "reserved extras are dropped in every case", in: user.DefaultInfo{Name: "a", Extra: map[string][]string{
			"Tokenfed.io/Issuer": {"corp"}, "tokenfed.io/issuer": {"corp"}, "TOKENFED.IO/x": {"y"}, "tokenfed.iox/ok": {"kept"},
		}}, wantName: "hub:a", wantGroup: []string{}, wantExtra: map[string][]string{IssuerExtraKey: {"hub"}, "tokenfed.iox/ok": {"kept"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			got, err := m.Map(&authenticator.Response{User: &in})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got error %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			u := got.User
			if u.GetName() != tc.wantName || !slices.Equal(u.GetGroups(), tc.wantGroup) || !equalExtra(u.GetExtra(), tc.wantExtra) {
				t.Fatalf("got %q %q %v, want %q %q %v", u.GetName(), u.GetGroups(), u.GetExtra(), tc.wantName, tc.wantGroup, tc.wantExtra)
			}
		})
	}
}

func TestNamespacesCheck(t *testing.T) {
	ns := NewNamespaces(map[string]string{"hub": "hub:", "edge": "edge:", "local": ""})
	issuerExtra := func(is string) map[string][]string { return map[string][]string{IssuerExtraKey: {is}} }
	tests := []struct {
		name    string
		issuer  string
		user    user.DefaultInfo
		wantErr bool
	}{
		{"hub's own user", "hub", user.DefaultInfo{Name: "hub:a", Groups: []string{"hub:g"}, Extra: issuerExtra("hub")}, false},
		{"local's own user", "local", user.DefaultInfo{Name: "system:serviceaccount:n:s", Groups: []string{"system:serviceaccounts"}, Extra: issuerExtra("local")}, false},
		{"local names a hub user", "local", user.DefaultInfo{Name: "hub:a", Extra: issuerExtra("local")}, true},
		{"local names a hub user in capitals", "local", user.DefaultInfo{Name: "Hub:a", Extra: issuerExtra("local")}, true},
		{"local names an edge group", "local", user.DefaultInfo{Name: "a", Groups: []string{"edge:g"}, Extra: issuerExtra("local")}, true},
		{"hub names an edge user", "hub", user.DefaultInfo{Name: "edge:a", Extra: issuerExtra("hub")}, true},
		{"hub names an unprefixed user", "hub", user.DefaultInfo{Name: "a", Extra: issuerExtra("hub")}, true},
		{"issuer extra names another issuer", "hub", user.DefaultInfo{Name: "hub:a", Extra: issuerExtra("edge")}, true},
		{"issuer extra missing", "hub", user.DefaultInfo{Name: "hub:a"}, true},
		{"a reserved extra beside the issuer's", "hub", user.DefaultInfo{Name: "hub:a", Extra: map[string][]string{IssuerExtraKey: {"hub"}, "Tokenfed.io/Issuer": {"edge"}}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.user
			err := ns.Check(tc.issuer, &authenticator.Response{User: &u})
			if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, ErrForeignIdentity)) {
				t.Fatalf("got %v, want error=%v (ErrForeignIdentity)", err, tc.wantErr)
			}
		})
	}
}

func equalExtra(a, b map[string][]string) bool {
	return maps.EqualFunc(a, b, slices.Equal)
}
