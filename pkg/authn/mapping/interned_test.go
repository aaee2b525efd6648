package mapping

import (
	"fmt"
	"reflect"
	"testing"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
)

func podTokenAnswer(credentialID, podName string) *authenticator.Response {
	return &authenticator.Response{
		Audiences: authenticator.Audiences{"https://hub.example"},
		User: &user.DefaultInfo{
			Name: "hub:system:serviceaccount:ns:sa", UID: "sa-uid",
			Groups: []string{"hub:system:serviceaccounts", "hub:system:serviceaccounts:ns"},
			Extra: map[string][]string{
				IssuerExtraKey:                          {"hub"},
				"authentication.kubernetes.io/pod-name": {podName},
				user.CredentialIDKey:                    {credentialID},
			},
		},
	}
}

func TestInternerSharesOneIdentityAcrossTokens(t *testing.T) {
	in := NewInterner(10)
	a, b := podTokenAnswer("JTI=a", "web-0"), podTokenAnswer("JTI=b", "web-0")
	ia, ib := in.Response(a), in.Response(b)
	ua, ub := ia.User.(*User), ib.User.(*User)
	if ua.shared != ub.shared {
		t.Fatal("two tokens of one identity do not share it")
	}
	for _, tc := range []struct {
		in, got *authenticator.Response
	}{{a, ia}, {b, ib}} {
		if !reflect.DeepEqual(tc.got.User.GetExtra(), tc.in.User.GetExtra()) ||
			tc.got.User.GetName() != tc.in.User.GetName() || tc.got.User.GetUID() != tc.in.User.GetUID() ||
			!reflect.DeepEqual(tc.got.User.GetGroups(), tc.in.User.GetGroups()) || !reflect.DeepEqual(tc.got.Audiences, tc.in.Audiences) {
			t.Fatalf("interned answer %+v differs from %+v", tc.got.User, tc.in.User)
		}
		ranged := map[string][]string{}
		RangeExtra(tc.got.User, func(k string, v []string) { ranged[k] = v })
		if !reflect.DeepEqual(ranged, tc.in.User.GetExtra()) {
			t.Fatalf("RangeExtra gave %v, want %v", ranged, tc.in.User.GetExtra())
		}
		if got := ExtraValue(tc.got.User, user.CredentialIDKey); !reflect.DeepEqual(got, tc.in.User.GetExtra()[user.CredentialIDKey]) {
			t.Fatalf("credential ID %v, want %v", got, tc.in.User.GetExtra()[user.CredentialIDKey])
		}
	}
	if &ia.Audiences[0] != &ib.Audiences[0] {
		t.Fatal("equal audience lists are not shared")
	}
	if got := a.User.GetExtra()[user.CredentialIDKey]; !reflect.DeepEqual(got, []string{"JTI=a"}) {
		t.Fatalf("input modified: credential ID %v", got)
	}
}

func TestInternerKeepsIdentitiesApart(t *testing.T) {
	in := NewInterner(10)
	base := in.Response(podTokenAnswer("JTI=a", "web-0")).User.(*User)
	otherPod := in.Response(podTokenAnswer("JTI=a", "web-1")).User.(*User)
	if base.shared == otherPod.shared || otherPod.ExtraValue("authentication.kubernetes.io/pod-name")[0] != "web-1" {
		t.Fatal("identities differing in an extra share one")
	}
	moreGroups := podTokenAnswer("JTI=a", "web-0")
	u := moreGroups.User.(*user.DefaultInfo)
	u.Groups = append(u.Groups, "hub:admins")
	if got := in.Response(moreGroups).User.(*User); got.shared == base.shared {
		t.Fatal("identities differing in a group share one")
	}
	// Names that concatenate alike must not collide.
	x := &authenticator.Response{User: &user.DefaultInfo{Name: "ab", UID: "c"}}
	y := &authenticator.Response{User: &user.DefaultInfo{Name: "a", UID: "bc"}}
	if in.Response(x).User.GetUID() != "c" || in.Response(y).User.GetUID() != "bc" {
		t.Fatal("identities whose fields concatenate alike collided")
	}
}

func TestInternerIsBounded(t *testing.T) {
	in := NewInterner(3)
	for i := range 10 {
		in.Response(&authenticator.Response{User: &user.DefaultInfo{Name: fmt.Sprint("u", i)}, Audiences: authenticator.Audiences{fmt.Sprint("a", i)}})
		if len(in.identities) > 3 || len(in.audiences) > 3 {
			t.Fatalf("after %d identities the interner holds %d identities and %d audience lists, want at most 3", i+1, len(in.identities), len(in.audiences))
		}
	}
}

func TestInternerLeavesUnusualAnswersAlone(t *testing.T) {
	in := NewInterner(3)
	r := podTokenAnswer("JTI=a", "web-0")
	r.User.(*user.DefaultInfo).Extra[user.CredentialIDKey] = []string{"one", "two"}
	if got := in.Response(r); got != r {
		t.Fatal("an answer with two credential IDs was rewritten")
	}
	if in.Response(nil) != nil {
		t.Fatal("nil answer not passed through")
	}
}
