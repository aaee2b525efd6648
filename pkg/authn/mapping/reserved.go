package mapping

import (
	"strings"

	"k8s.io/apiserver/pkg/authentication/serviceaccount"
)

// Kind is what an issuer vouches for. It decides which names of
// Kubernetes' reserved "system:" namespace the issuer may emit. Its values
// are the config's issuer types, so v1alpha1.IssuerType converts to it.
type Kind string

const (
	// ServiceAccount issuers are Kubernetes clusters. In "system:" they may
	// emit only what kube-apiserver's service-account authenticator does.
	ServiceAccount Kind = "ServiceAccount"
	// OIDC issuers emit nothing in "system:". So does any unknown Kind.
	OIDC Kind = "OIDC"
)

// reservedNamespace is where Kubernetes names its own identities, and the
// authorizers and admission plugins of every member cluster trust the names
// in it:
//   - k8s.io/apiserver pkg/authentication/user/user.go: system:masters
//     (cluster-admin), system:nodes and system:monitoring, system:anonymous,
//     system:unauthenticated, system:authenticated, system:apiserver,
//     system:kube-proxy, system:kube-controller-manager and
//     system:kube-scheduler;
//   - the node authorizer and NodeRestriction admission
//     (k8s.io/kubernetes pkg/auth/nodeidentifier/default.go): any
//     "system:node:<name>" in group system:nodes acts as that kubelet;
//   - bootstrap tokens (k8s.io/cluster-bootstrap token/api/types.go):
//     "system:bootstrap:<id>" in system:bootstrappers[:...] may request
//     node client certificates;
//   - service accounts (k8s.io/apiserver pkg/authentication/serviceaccount):
//     "system:serviceaccount:<ns>:<name>", system:serviceaccounts and
//     "system:serviceaccounts:<ns>";
//   - the default RBAC bindings (k8s.io/kubernetes
//     plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go) grant
//     these users and groups, and each controller's kube-system service
//     account, their roles; any release may add more.
//
// So no list of privileged names is complete. The rule is by namespace
// instead: nothing in it is emitted except the service-account shapes, and
// those only by a ServiceAccount issuer, whose cluster mints them. Names
// are compared on their foldKey, so "System:Nodes" and "ſystem:nodes" are
// in it too.
const reservedNamespace = "system:"

// inReservedNamespace reports whether name, with its foldKey, is in
// Kubernetes' "system:" namespace in any spelling.
func inReservedNamespace(name, key string) bool {
	return hasPrefixFold(name, key, reservedNamespace)
}

// reserved is what an issuer of one kind may emit in "system:" for one
// username: the service-account namespace when the username is a
// service account the issuer may name, so that groups are checked without
// parsing it again.
type reserved struct {
	userReserved bool
	saNamespace  string // "" unless the username is a service account
}

// reservedFor applies the kind's rule to username, an unprefixed name. It
// is applied before prefixing, so that a change of prefix cannot open it.
func (k Kind) reservedFor(username, key string) reserved {
	if !inReservedNamespace(username, key) {
		return reserved{}
	}
	if k != ServiceAccount {
		return reserved{userReserved: true}
	}
	// Byte for byte the shape serviceaccount.MakeUsername produces, with a
	// valid namespace and name.
	ns, _, err := serviceaccount.SplitUsername(username)
	if err != nil {
		return reserved{userReserved: true}
	}
	return reserved{saNamespace: ns}
}

// dropsGroup reports whether group must be dropped. Only a service account's
// own groups survive in "system:": system:serviceaccounts and
// system:serviceaccounts:<its namespace>, exactly as
// serviceaccount.UserInfo makes them.
func (r reserved) dropsGroup(group, key string) bool {
	if !inReservedNamespace(group, key) {
		return false
	}
	if r.saNamespace == "" {
		return true
	}
	if group == serviceaccount.AllServiceAccountsGroup {
		return false
	}
	ns, ok := strings.CutPrefix(group, serviceaccount.ServiceAccountGroupPrefix)
	return !ok || ns != r.saNamespace
}

// serviceAccountShaped reports whether name is in the service-account
// part of "system:", spelled exactly. Namespaces uses it: it does not know
// issuer kinds, so it only refuses what no issuer may emit, and leaves the
// exact shapes to Mapper.
func serviceAccountShaped(name string) bool {
	return name == serviceaccount.AllServiceAccountsGroup ||
		strings.HasPrefix(name, serviceaccount.ServiceAccountGroupPrefix) ||
		strings.HasPrefix(name, serviceaccount.ServiceAccountUsernamePrefix)
}
