package mapping

import (
	"testing"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
)

// The fold runs on the uncached path for every name of every answer.
// ASCII names, the usual ones, must stay cheap; others pay for Unicode
// folding and normalisation.
var benchUsers = []struct {
	name string
	user user.DefaultInfo
}{
	{"ascii", user.DefaultInfo{
		Name:   "system:serviceaccount:team-a:builder",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:team-a", "dev", "ops"},
		Extra:  map[string][]string{"authentication.kubernetes.io/pod-name": {"p"}},
	}},
	{"unicode", user.DefaultInfo{
		Name:   "\u00e9lodie@example.com",
		Groups: []string{"d\u00e9veloppeurs", "\u00e9quipe-a", "dev", "ops"},
		Extra:  map[string][]string{"example.com/r\u00f4le": {"p"}},
	}},
}

func BenchmarkMap(b *testing.B) {
	m := New("local", ServiceAccount, "", []string{"admins"}, []string{"root"})
	for _, bu := range benchUsers {
		b.Run(bu.name, func(b *testing.B) {
			in := &authenticator.Response{User: &bu.user}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Map(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkNamespacesCheck(b *testing.B) {
	ns := NewNamespaces(map[string]string{"hub": "hub:", "edge": "edge:", "corp": "corp:", "local": ""})
	for _, bu := range benchUsers {
		b.Run(bu.name, func(b *testing.B) {
			u := bu.user
			u.Extra = map[string][]string{IssuerExtraKey: {"local"}}
			in := &authenticator.Response{User: &u}
			b.ReportAllocs()
			for b.Loop() {
				if err := ns.Check("local", in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
