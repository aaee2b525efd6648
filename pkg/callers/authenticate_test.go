package callers

import (
	"crypto/x509"
	"slices"
	"testing"
	"time"

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
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	opts := x509.VerifyOptions{Roots: roots}
	userOf := func(c *x509.Certificate) *authenticator.Response {
		t.Helper()
		resp, ok, err := users.user([]*x509.Certificate{c}, opts, time.Now())
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

// TestCertUsersRecheckedPerRequest: a remembered certificate is refused
// once it expires, and once the CA it chained to is replaced, as on every
// request of a kept-alive connection; and admitted again with its CA back.
func TestCertUsersRecheckedPerRequest(t *testing.T) {
	ca, err := devcerts.NewCA("test-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, err := devcerts.NewCA("other-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert := certFor(t, ca, "member-a", nil, "")
	chain := []*x509.Certificate{cert}
	pool := func(c *devcerts.CA) x509.VerifyOptions {
		p := x509.NewCertPool()
		p.AddCert(c.Cert)
		return x509.VerifyOptions{Roots: p}
	}
	current, replaced := pool(ca), pool(other)
	users := newCertUsers(8)
	now := time.Now()
	for _, tc := range []struct {
		name   string
		opts   x509.VerifyOptions
		at     time.Time
		wantOK bool
	}{
		{name: "valid", opts: current, at: now, wantOK: true},
		{name: "remembered, still valid", opts: current, at: now.Add(time.Minute), wantOK: true},
		{name: "remembered, after NotAfter", opts: current, at: cert.NotAfter.Add(time.Second)},
		{name: "remembered, before NotBefore", opts: current, at: cert.NotBefore.Add(-time.Second)},
		{name: "the CA replaced", opts: replaced, at: now},
		{name: "the CA back", opts: current, at: now, wantOK: true},
	} {
		resp, ok, err := users.user(chain, tc.opts, tc.at)
		if ok != tc.wantOK || (ok && resp.User.GetName() != "member-a") || (!ok && err == nil) {
			t.Errorf("%s: got ok=%v err=%v, want ok=%v (an error when refused)", tc.name, ok, err, tc.wantOK)
		}
	}
}
