package authn

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"

	"github.com/tokenfed/tokenfed/pkg/authn/jwt"
	"github.com/tokenfed/tokenfed/pkg/authn/mapping"
)

// oidcReservedCases: an unprefixed OIDC issuer maps sub and groups
// verbatim with CEL, so its users choose their names. None lands in
// Kubernetes' "system:" namespace: a reserved username is refused, a
// reserved group dropped.
var oidcReservedCases = []struct {
	name      string
	sub       string
	groups    []string
	wantGroup []string
	wantErr   error
}{
	{name: "a kubelet", sub: "system:node:worker-1", groups: []string{"system:nodes"}, wantErr: mapping.ErrReservedUser},
	{name: "the controller manager", sub: "system:kube-controller-manager", wantErr: mapping.ErrReservedUser},
	{name: "a kube-system service account", sub: "system:serviceaccount:kube-system:clusterrole-aggregation-controller", wantErr: mapping.ErrReservedUser},
	{name: "anonymous", sub: "system:anonymous", wantErr: mapping.ErrReservedUser},
	{name: "a kubelet spelled with a long s", sub: "\u017fystem:node:worker-1", wantErr: mapping.ErrReservedUser},
	{name: "a kubelet in capitals", sub: "SYSTEM:node:worker-1", wantErr: mapping.ErrReservedUser},
	{name: "reserved groups are dropped",
		sub:       "alice",
		groups:    []string{"dev", "system:nodes", "system:masters", "System:Masters", "system:serviceaccounts", "system:bootstrappers", "\uff53ystem:monitoring"},
		wantGroup: []string{"dev"}},
}

func TestChainUnprefixedOIDCReservedNames(t *testing.T) {
	cfg := federation(t)
	empty := ""
	cfg.Issuers[2].Mapping.Prefix, cfg.Issuers[2].Mapping.AllowUnprefixed = &empty, true
	cfg.Issuers[2].ClaimMappings = &apiserverv1.ClaimMappings{
		Username: apiserverv1.PrefixedClaimOrExpression{Expression: "claims.sub"},
		Groups:   apiserverv1.PrefixedClaimOrExpression{Expression: "claims.groups"},
	}
	c := newChain(t, cfg)
	trusted, _ := testKeys()
	for _, tc := range oidcReservedCases {
		t.Run(tc.name, func(t *testing.T) {
			claims := oidcClaims(time.Now())
			claims["sub"], claims["groups"] = tc.sub, append([]string{}, tc.groups...)

			resp, ok, err := c.AuthenticateToken(context.Background(), sign(t, trusted, "idp-key", claims))

			if ok != (tc.wantErr == nil) || !errors.Is(err, tc.wantErr) {
				t.Fatalf("got ok=%v err=%v, want err %v", ok, err, tc.wantErr)
			}
			if ok && (resp.User.GetName() != tc.sub || !cmp.Equal(resp.User.GetGroups(), tc.wantGroup, cmpEmpty)) {
				t.Errorf("got %q %q, want %q %q", resp.User.GetName(), resp.User.GetGroups(), tc.sub, tc.wantGroup)
			}
		})
	}
}

// upstreamReservedCases: what an upstream answers for a ServiceAccount
// issuer, unprefixed ("local") or prefixed ("hub"). In "system:" only a
// service account and its own groups pass; the rule is applied before
// prefixing, so hub's answers follow it too.
var upstreamReservedCases = []struct {
	name      string
	issuer    string
	user      authenticationv1.UserInfo
	wantUser  string
	wantGroup []string
	wantErr   error
}{
	{name: "a bootstrap token", issuer: "local",
		user:    authenticationv1.UserInfo{Username: "system:bootstrap:abcdef", Groups: []string{"system:bootstrappers", "system:bootstrappers:kubeadm:default-node-token"}},
		wantErr: mapping.ErrReservedUser},
	{name: "a bootstrap token through a prefixed issuer", issuer: "hub",
		user:    authenticationv1.UserInfo{Username: "system:bootstrap:abcdef", Groups: []string{"system:bootstrappers"}},
		wantErr: mapping.ErrReservedUser},
	{name: "a node", issuer: "local", user: authenticationv1.UserInfo{Username: "system:node:worker-1", Groups: []string{"system:nodes"}}, wantErr: mapping.ErrReservedUser},
	{name: "a service account keeps its own groups only", issuer: "local",
		user: authenticationv1.UserInfo{Username: "system:serviceaccount:ns:sa", Groups: []string{
			"system:serviceaccounts", "system:serviceaccounts:ns", "system:serviceaccounts:kube-system", "system:nodes", "system:masters", "dev",
		}},
		wantUser: "system:serviceaccount:ns:sa", wantGroup: []string{"system:serviceaccounts", "system:serviceaccounts:ns", "dev"}},
	{name: "the same through a prefixed issuer", issuer: "hub",
		user:     authenticationv1.UserInfo{Username: "system:serviceaccount:ns:sa", Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:nodes"}},
		wantUser: hubUser, wantGroup: []string{"hub:system:serviceaccounts"}},
	{name: "a user that is no service account gets no system: group", issuer: "local",
		user:     authenticationv1.UserInfo{Username: "alice", Groups: []string{"system:serviceaccounts", "system:monitoring", "dev"}},
		wantUser: "alice", wantGroup: []string{"dev"}},
	{name: "a service account in another spelling", issuer: "local",
		user:    authenticationv1.UserInfo{Username: "System:serviceaccount:ns:sa"},
		wantErr: mapping.ErrReservedUser},
	{name: "a hub user in fullwidth letters", issuer: "local",
		user:    authenticationv1.UserInfo{Username: "\uff48\uff55\uff42:system:serviceaccount:ns:sa"},
		wantErr: mapping.ErrForeignIdentity},
	{name: "a hub group with a soft hyphen", issuer: "local",
		user:    authenticationv1.UserInfo{Username: "alice", Groups: []string{"hu\u00adb:admins"}},
		wantErr: mapping.ErrForeignIdentity},
}

func TestChainUpstreamReservedNames(t *testing.T) {
	for _, tc := range upstreamReservedCases {
		t.Run(tc.name, func(t *testing.T) {
			up := newFakeUpstream(t, answerUser(tc.user))
			c := newChain(t, withLocalIssuer(t, up, tc.issuer))

			resp, ok, err := c.AuthenticateToken(context.Background(), "abcdef.0123456789abcdef")

			if ok != (tc.wantErr == nil) || !errors.Is(err, tc.wantErr) {
				t.Fatalf("got ok=%v err=%v, want err %v", ok, err, tc.wantErr)
			}
			if ok && (resp.User.GetName() != tc.wantUser || !cmp.Equal(resp.User.GetGroups(), tc.wantGroup, cmpEmpty)) {
				t.Errorf("got %q %q, want %q %q", resp.User.GetName(), resp.User.GetGroups(), tc.wantUser, tc.wantGroup)
			}
		})
	}
}

// bareClaimCases: OIDC claim mappings never turn an empty claim into a
// name that is only their own text.
var bareClaimCases = []struct {
	name      string
	mappings  apiserverv1.ClaimMappings
	claims    map[string]any
	wantUser  string
	wantGroup []string
	wantErr   error
}{
	{name: "empty sub under a username prefix",
		mappings: apiserverv1.ClaimMappings{Username: apiserverv1.PrefixedClaimOrExpression{Claim: "sub", Prefix: strPtr("oidc:")}},
		claims:   map[string]any{"sub": ""}, wantErr: jwt.ErrEmptyUsernameClaim},
	{name: "empty sub in a CEL username",
		mappings: apiserverv1.ClaimMappings{Username: apiserverv1.PrefixedClaimOrExpression{Expression: `"oidc:" + claims.sub`}},
		claims:   map[string]any{"sub": ""}, wantErr: jwt.ErrEmptyUsernameClaim},
	{name: "empty group under a groups prefix",
		mappings: apiserverv1.ClaimMappings{
			Username: apiserverv1.PrefixedClaimOrExpression{Claim: "sub", Prefix: strPtr("")},
			Groups:   apiserverv1.PrefixedClaimOrExpression{Claim: "groups", Prefix: strPtr("g:")}},
		claims:   map[string]any{"groups": []string{"", "dev"}},
		wantUser: "idp:alice", wantGroup: []string{"idp:g:dev"}},
	{name: "empty group in a CEL map",
		mappings: apiserverv1.ClaimMappings{
			Username: apiserverv1.PrefixedClaimOrExpression{Claim: "sub", Prefix: strPtr("")},
			Groups:   apiserverv1.PrefixedClaimOrExpression{Expression: `dyn(claims.groups).map(g, "g:" + g)`}},
		claims:   map[string]any{"groups": []string{"", "dev"}},
		wantUser: "idp:alice", wantGroup: []string{"idp:g:dev"}},
}

func TestChainOIDCBareClaims(t *testing.T) {
	trusted, _ := testKeys()
	for _, tc := range bareClaimCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := federation(t)
			cfg.Issuers[2].ClaimMappings = &tc.mappings
			c := newChain(t, cfg)
			claims := oidcClaims(time.Now())
			for k, v := range tc.claims {
				claims[k] = v
			}

			resp, ok, err := c.AuthenticateToken(context.Background(), sign(t, trusted, "idp-key", claims))

			if ok != (tc.wantErr == nil) || !errors.Is(err, tc.wantErr) {
				t.Fatalf("got ok=%v err=%v, want err %v", ok, err, tc.wantErr)
			}
			if ok && (resp.User.GetName() != tc.wantUser || !cmp.Equal(resp.User.GetGroups(), tc.wantGroup, cmpEmpty)) {
				t.Errorf("got %q %q, want %q %q", resp.User.GetName(), resp.User.GetGroups(), tc.wantUser, tc.wantGroup)
			}
		})
	}
}

func strPtr(s string) *string { return &s }
