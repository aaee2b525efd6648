package mapping

import (
	"errors"
	"slices"
	"testing"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
)

// Kind converts from the config's issuer type; the chain relies on it.
func TestKindIsTheIssuerType(t *testing.T) {
	for _, tc := range []struct {
		got  Kind
		want v1alpha1.IssuerType
	}{{ServiceAccount, v1alpha1.IssuerTypeServiceAccount}, {OIDC, v1alpha1.IssuerTypeOIDC}} {
		if string(tc.got) != string(tc.want) {
			t.Errorf("got Kind %q, want %q", tc.got, tc.want)
		}
	}
}

// reservedUserCases: which unprefixed usernames each kind may emit. In
// "system:" only a ServiceAccount issuer may, and only exact
// service-account usernames.
var reservedUserCases = []struct {
	name     string
	username string
	saOK     bool // a ServiceAccount issuer may emit it
	oidcOK   bool // an OIDC issuer (or one of unknown kind) may emit it
}{
	{"service account", "system:serviceaccount:ns:sa", true, false},
	{"service account with a dotted name", "system:serviceaccount:kube-system:a.b", true, false},
	{"kubelet (node authorizer)", "system:node:worker-1", false, false},
	{"controller manager", user.KubeControllerManager, false, false},
	{"scheduler", user.KubeScheduler, false, false},
	{"kube-proxy", user.KubeProxy, false, false},
	{"apiserver", user.APIServerUser, false, false},
	{"anonymous", user.Anonymous, false, false},
	{"bootstrap token", "system:bootstrap:abcdef", false, false},
	{"a name Kubernetes may add later", "system:whatever", false, false},
	{"the bare namespace", "system:", false, false},
	{"service account in capitals", "System:serviceaccount:ns:sa", false, false},
	{"service account with a third part", "system:serviceaccount:ns:sa:x", false, false},
	{"service account with an invalid namespace", "system:serviceaccount:NS:sa", false, false},
	{"service account without a name", "system:serviceaccount:ns:", false, false},
	{"long s (U+017F)", "\u017fystem:node:worker-1", false, false},
	{"fullwidth", "\uff53\uff59\uff53\uff54\uff45\uff4d:node:worker-1", false, false},
	{"soft hyphen inside", "sys\u00adtem:node:worker-1", false, false},
	{"an ordinary user", "alice", true, true},
	{"system without the colon", "systemd", true, true},
}

func TestReservedUsernames(t *testing.T) {
	for _, tc := range reservedUserCases {
		for _, kind := range []Kind{ServiceAccount, OIDC, ""} {
			for _, prefix := range []string{"", "hub:"} {
				t.Run(tc.name+"/"+string(kind)+"/"+prefix, func(t *testing.T) {
					ok := tc.oidcOK
					if kind == ServiceAccount {
						ok = tc.saOK
					}
					_, err := New("x", kind, prefix, nil, nil).Map(&authenticator.Response{User: &user.DefaultInfo{Name: tc.username}})
					if ok != (err == nil) || (!ok && !errors.Is(err, ErrReservedUser)) {
						t.Fatalf("got %v, want allowed=%v (else %v)", err, ok, ErrReservedUser)
					}
				})
			}
		}
	}
}

// reservedGroupCases: the groups each kind keeps. A ServiceAccount issuer
// keeps exactly the groups kube-apiserver gives a service account of that
// namespace; nothing else in "system:" survives for anyone.
var reservedGroupCases = []struct {
	name     string
	kind     Kind
	username string
	want     []string
}{
	{"service account", ServiceAccount, "system:serviceaccount:ns:sa",
		[]string{"system:serviceaccounts", "system:serviceaccounts:ns", "dev"}},
	{"service-account groups need a service account", ServiceAccount, "alice", []string{"dev"}},
	{"an OIDC user keeps no system: group", OIDC, "alice", []string{"dev"}},
	{"an unknown kind is OIDC", "", "alice", []string{"dev"}},
}

// allGroups holds every kind of "system:" group an issuer could try.
var allGroups = []string{
	"system:serviceaccounts", "system:serviceaccounts:ns", "system:serviceaccounts:kube-system",
	user.SystemPrivilegedGroup, "System:Masters", "\u017fystem:masters", user.NodesGroup, user.MonitoringGroup,
	user.AllAuthenticated, user.AllUnauthenticated, "system:bootstrappers", "system:bootstrappers:kubeadm:default-node-token",
	"System:serviceaccounts", "\uff53ystem:serviceaccounts", "dev",
}

func TestReservedGroups(t *testing.T) {
	for _, tc := range reservedGroupCases {
		for _, prefix := range []string{"", "hub:"} {
			t.Run(tc.name+"/"+prefix, func(t *testing.T) {
				got, err := New("x", tc.kind, prefix, nil, nil).Map(&authenticator.Response{User: &user.DefaultInfo{Name: tc.username, Groups: allGroups}})
				if err != nil {
					t.Fatal(err)
				}
				var want []string
				for _, g := range tc.want {
					want = append(want, prefix+g)
				}
				if !slices.Equal(got.User.GetGroups(), want) {
					t.Fatalf("got groups %q, want %q", got.User.GetGroups(), want)
				}
			})
		}
	}
}
