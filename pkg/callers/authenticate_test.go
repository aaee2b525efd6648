package callers

import (
	"crypto/x509"
	"slices"
	"testing"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
)

// TestCertUsers: a certificate is converted once while it is remembered,
// each certificate gets its own user, and one that was dropped is
// converted again to the same user.
func TestCertUsers(t *testing.T) {
	ca, err := devcerts.NewCA("test-ca", 3600e9)
	if err != nil {
		t.Fatal(err)
	}
	a := certFor(t, ca, "member-a", []string{"members"}, "spiffe://corp/member-a")
	b := certFor(t, ca, "member-b", nil, "")
	users := newCertUsers(1)
	userOf := func(c *x509.Certificate) *authenticator.Response {
		t.Helper()
		resp, ok, err := users.user([]*x509.Certificate{c})
		if !ok || err != nil {
			t.Fatalf("got ok=%v err=%v, want a user", ok, err)
		}
		return resp
	}
	wantA := func(resp *authenticator.Response) {
		t.Helper()
		u := resp.User
		if u.GetName() != "member-a" || !slices.Equal(u.GetGroups(), []string{"members", user.AllAuthenticated}) || !slices.Equal(u.GetExtra()[URISANExtraKey], []string{"spiffe://corp/member-a"}) {
			t.Errorf("got %q %v %v, want member-a [members system:authenticated] [spiffe://corp/member-a]", u.GetName(), u.GetGroups(), u.GetExtra()[URISANExtraKey])
		}
	}

	first := userOf(a)
	wantA(first)
	if again := userOf(a); again != first {
		t.Errorf("got a new conversion for the same certificate, want the remembered one")
	}
	if other := userOf(b).User; other.GetName() != "member-b" || len(other.GetExtra()[URISANExtraKey]) != 0 {
		t.Errorf("got %q %v for another certificate, want member-b without URIs", other.GetName(), other.GetExtra()[URISANExtraKey])
	}
	// b took the only slot: a is converted again, to the same user.
	back := userOf(a)
	if back == first {
		t.Errorf("got the remembered conversion of a dropped certificate, want a new one")
	}
	wantA(back)
}
