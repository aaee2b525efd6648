package mapping

import (
	"fmt"
	"slices"
	"testing"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
)

// manyGroupsAnswer is an answer of one identity with n groups: OIDC users
// often have dozens.
func manyGroupsAnswer(credentialID string, n int) *authenticator.Response {
	groups := make([]string, n)
	for i := range groups {
		groups[i] = fmt.Sprint("idp:group-", i)
	}
	auds := make(authenticator.Audiences, n)
	for i := range auds {
		auds[i] = fmt.Sprint("aud-", i)
	}
	return &authenticator.Response{Audiences: auds, User: &user.DefaultInfo{
		Name: "idp:alice", Groups: groups,
		Extra: map[string][]string{IssuerExtraKey: {"idp"}, "scopes": slices.Clone(groups), user.CredentialIDKey: {credentialID}},
	}}
}

// TestInternedSlicesCannotBeAppendedIntoAnotherAnswer: the answers of two
// tokens of one identity share its groups, extras and audiences. Appending
// to what one answer returns, the common way to add a group (k8s.io
// apiserver's group adders copy first, other code need not), must give a
// new list, never write into the shared one's spare capacity, where the
// next append for another token's answer would overwrite it.
func TestInternedSlicesCannotBeAppendedIntoAnotherAnswer(t *testing.T) {
	for _, n := range []int{1, 3, 17, 30} {
		in := NewInterner(10)
		a, b := in.Response(manyGroupsAnswer("JTI=a", n)), in.Response(manyGroupsAnswer("JTI=b", n))
		lists := map[string]func(r *authenticator.Response) []string{
			"groups":    func(r *authenticator.Response) []string { return r.User.GetGroups() },
			"extra":     func(r *authenticator.Response) []string { return ExtraValue(r.User, "scopes") },
			"audiences": func(r *authenticator.Response) []string { return r.Audiences },
		}
		for name, list := range lists {
			if &list(a)[0] != &list(b)[0] {
				t.Fatalf("%d %s: the two answers do not share them", n, name)
			}
			fromA := append(list(a), "added-for-a")
			fromB := append(list(b), "added-for-b")
			if fromA[n] != "added-for-a" || fromB[n] != "added-for-b" {
				t.Errorf("%d %s: appending for one answer changed the other's: got %q and %q", n, name, fromA[n], fromB[n])
			}
		}
	}
}

// TestInternerHashCollisionKeepsIdentitiesApart: identities are interned
// by a 64-bit hash. When another identity holds an answer's hash slot (a
// collision), the answer must keep its own identity, never take the
// other's.
func TestInternerHashCollisionKeepsIdentitiesApart(t *testing.T) {
	in := NewInterner(10)
	alice := in.Response(podTokenAnswer("JTI=a", "web-0")).User.(*User)
	if len(in.identities) != 1 {
		t.Fatalf("interner holds %d identities, want 1", len(in.identities))
	}
	mallory := &sharedIdentity{name: "hub:system:serviceaccount:ns:mallory", uid: "m", groups: []string{"hub:admins"}}
	for h := range in.identities {
		in.identities[h] = mallory
	}
	got := in.Response(podTokenAnswer("JTI=b", "web-0")).User.(*User)
	if got.shared == mallory || got.GetName() != alice.GetName() || !slices.Equal(got.GetGroups(), alice.GetGroups()) ||
		got.ExtraValue(user.CredentialIDKey)[0] != "JTI=b" {
		t.Fatalf("an answer whose hash slot holds another identity got name %q, groups %q", got.GetName(), got.GetGroups())
	}
}
