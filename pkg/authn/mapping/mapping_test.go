package mapping

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
)

func saResponse() *authenticator.Response {
	return &authenticator.Response{
		Audiences: authenticator.Audiences{"api"},
		User: &user.DefaultInfo{
			Name: "system:serviceaccount:ns:sa", UID: "uid-1",
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:ns", "system:masters", "ops"},
			Extra:  map[string][]string{"authentication.kubernetes.io/pod-name": {"p"}},
		},
	}
}

var mapCases = []struct {
	name    string
	mapper  *Mapper
	want    *user.DefaultInfo
	wantErr error
}{
	{
		name:   "prefix on user and groups, masters removed, issuer extra",
		mapper: New("hub", ServiceAccount, "hub:", nil, nil),
		want: &user.DefaultInfo{Name: "hub:system:serviceaccount:ns:sa", UID: "uid-1",
			Groups: []string{"hub:system:serviceaccounts", "hub:system:serviceaccounts:ns", "hub:ops"},
			Extra:  map[string][]string{"authentication.kubernetes.io/pod-name": {"p"}, IssuerExtraKey: {"hub"}}},
	},
	{
		name:   "unprefixed still never emits system:masters; denied group removed",
		mapper: New("local", ServiceAccount, "", []string{"ops"}, nil),
		want: &user.DefaultInfo{Name: "system:serviceaccount:ns:sa", UID: "uid-1",
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:ns"},
			Extra:  map[string][]string{"authentication.kubernetes.io/pod-name": {"p"}, IssuerExtraKey: {"local"}}},
	},
	{
		name:   "a group that prefixes into system:masters is removed",
		mapper: New("sys", ServiceAccount, "system:", nil, nil),
		want: &user.DefaultInfo{Name: "system:system:serviceaccount:ns:sa", UID: "uid-1",
			Groups: []string{"system:system:serviceaccounts", "system:system:serviceaccounts:ns", "system:ops"},
			Extra:  map[string][]string{"authentication.kubernetes.io/pod-name": {"p"}, IssuerExtraKey: {"sys"}}},
	},
	{
		name:    "denied username",
		mapper:  New("hub", ServiceAccount, "hub:", nil, []string{"system:serviceaccount:ns:sa"}),
		wantErr: ErrDeniedUser,
	},
}

func TestMap(t *testing.T) {
	for _, tc := range mapCases {
		t.Run(tc.name, func(t *testing.T) {
			in := saResponse()
			got, err := tc.mapper.Map(in)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got error %v, want %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(saResponse(), in); diff != "" {
				t.Fatalf("Map mutated its input (-before +after):\n%s", diff)
			}
			if tc.want == nil {
				return
			}
			if diff := cmp.Diff(tc.want, got.User); diff != "" {
				t.Fatalf("user (-want +got):\n%s", diff)
			}
			got.User.(*user.DefaultInfo).Extra["authentication.kubernetes.io/pod-name"][0] = "changed"
			if in.User.GetExtra()["authentication.kubernetes.io/pod-name"][0] != "p" {
				t.Fatalf("output shares extra slices with the input")
			}
		})
	}
}
