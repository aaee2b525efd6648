package mapping

import (
	"errors"
	"testing"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
)

func TestFoldKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"hub:alice", "hub:alice"},
		{"HUB:Alice", "hub:alice"},
		{"\u017ftaging:admin", "staging:admin"},           // long s folds to s
		{"to\u212aenfed.io/issuer", "tokenfed.io/issuer"}, // Kelvin sign folds to k
		{"\uff48\uff55\uff42\uff1aadmin", "hub:admin"},    // fullwidth, colon too: NFKC
		{"\U0001d421ub:admin", "hub:admin"},               // mathematical bold h: NFKC
		{"h\u00adu\u200bb\u2060:admin", "hub:admin"},      // soft hyphen, zero-width space, word joiner
		{"hub\ufe0f:admin", "hub:admin"},                  // variation selector
		{"\u00dfh:x", "ssh:x"},                            // full folding: sharp s is ss
		{"\u0130", "i\u0307"},                             // dotted capital I keeps its dot
		{"caf\u00e9", "caf\u00e9"},                        // composed stays composed
		{"cafe\u0301", "caf\u00e9"},                       // decomposed composes
	} {
		if got := foldKey(tc.in); got != tc.want {
			t.Errorf("foldKey(%+q) = %+q, want %+q", tc.in, got, tc.want)
		}
	}
}

// A name that folds into another issuer's namespace is that issuer's, in
// whatever byte length its spelling takes.
func TestNamespacesFold(t *testing.T) {
	ns := NewNamespaces(map[string]string{"staging": "staging:", "hub": "HUB:", "corp": "corp", "local": ""})
	tests := []struct {
		name   string
		issuer string
		user   string
		group  string
		want   bool // accepted
	}{
		{"long s", "local", "\u017ftaging:admin", "", false},
		{"fullwidth", "local", "\uff48\uff55\uff42:admin", "", false},
		{"fullwidth colon", "local", "hub\uff1aadmin", "", false},
		{"zero-width space", "local", "hu\u200bb:admin", "", false},
		{"group in another case", "local", "alice", "\u017fTAGING:ops", false},
		{"a prefix given in capitals still matches", "local", "hub:admin", "", false},
		{"staging's own name", "staging", "staging:admin", "staging:ops", true},
		{"staging's own name in another case", "staging", "Staging:admin", "", true},
		// NFKC fuses p and a combining acute into U+1E55, so the key no
		// longer starts with "corp"; the raw spelling keeps it corp's.
		{"corp's own name starting with a combining mark", "corp", "corp\u0301x", "", true},
		{"local's own non-ASCII name", "local", "\u00e9lodie", "caf\u00e9", true},
		{"local's service account", "local", "system:serviceaccount:ns:sa", "system:serviceaccounts:ns", true},
		{"local's node name", "local", "system:node:worker-1", "", false},
		{"local's node group", "local", "alice", "system:nodes", false},
		{"local's masters in another spelling", "local", "alice", "\u017fystem:masters", false},
		{"a prefixed issuer cannot claim a system: name", "staging", "system:serviceaccount:ns:sa", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := &user.DefaultInfo{Name: tc.user, Extra: map[string][]string{IssuerExtraKey: {tc.issuer}}}
			if tc.group != "" {
				u.Groups = []string{tc.group}
			}
			err := ns.Check(tc.issuer, &authenticator.Response{User: u})
			if tc.want != (err == nil) || (err != nil && !errors.Is(err, ErrForeignIdentity)) {
				t.Fatalf("got %v, want accepted=%v (else %v)", err, tc.want, ErrForeignIdentity)
			}
		})
	}
}

func TestReservedExtraFold(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want bool
	}{
		{IssuerExtraKey, true},
		{"TOKENFED.IO/issuer", true},
		{"to\u212aenfed.io/issuer", true},
		{"\uff54okenfed.io/other", true},
		{"token\u00adfed.io/issuer", true},
		{"tokenfed.iox/issuer", false},
		{"example.com/tokenfed.io/", false},
	} {
		if got := IsReservedExtra(tc.key); got != tc.want {
			t.Errorf("IsReservedExtra(%+q) = %v, want %v", tc.key, got, tc.want)
		}
	}
}

// Map drops every spelling of a reserved extra, so only the real one is
// left; and denies every spelling of a denied name.
func TestMapFold(t *testing.T) {
	m := New("local", ServiceAccount, "", []string{"Ops"}, []string{"root"})
	out, err := m.Map(&authenticator.Response{User: &user.DefaultInfo{
		Name:   "alice",
		Groups: []string{"ops", "\uff4fps", "dev"},
		Extra:  map[string][]string{"to\u212aenfed.io/issuer": {"hub"}, "example.com/team": {"a"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{IssuerExtraKey: {"local"}, "example.com/team": {"a"}}
	if !equalExtra(out.User.GetExtra(), want) {
		t.Errorf("got extra %v, want %v", out.User.GetExtra(), want)
	}
	if g := out.User.GetGroups(); len(g) != 1 || g[0] != "dev" {
		t.Errorf("got groups %q, want [dev]", g)
	}
	for _, name := range []string{"root", "ROOT", "\uff52oot"} {
		if _, err := m.Map(&authenticator.Response{User: &user.DefaultInfo{Name: name}}); !errors.Is(err, ErrDeniedUser) {
			t.Errorf("username %+q: got %v, want %v", name, err, ErrDeniedUser)
		}
	}
}
