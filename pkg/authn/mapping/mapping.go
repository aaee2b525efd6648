// Package mapping presents a verified identity as its issuer's federated
// identity: a prefix on the username and every group, denied and
// Kubernetes-reserved groups removed, denied and Kubernetes-reserved
// usernames rejected, and the tokenfed.io/issuer extra. Like
// k8s.io/apiserver's group adder it is a decorator that never mutates the
// response it is given: verifiers may cache and share theirs.
package mapping

import (
	"errors"
	"slices"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
)

// IssuerExtraKey names the issuer that vouched for the user.
const IssuerExtraKey = "tokenfed.io/issuer"

// alwaysDenied are groups no federated user may ever carry: they grant
// cluster-admin on any cluster that trusts tokenfed. The reserved-namespace
// rule (reserved.go) removes it too; naming it keeps the worst case obvious
// and also catches a prefix that would spell it.
var alwaysDenied = []string{user.SystemPrivilegedGroup}

// ReservedExtraDomain holds the extra keys only tokenfed may set, matched
// on their foldKey: an upstream or claim mapping that emits
// "Tokenfed.io/Issuer" or "to\u212Aenfed.io/issuer" (a Kelvin sign) must not
// sit next to the real one.
const ReservedExtraDomain = "tokenfed.io/"

var (
	// ErrDeniedUser is returned for a username on the deny list.
	ErrDeniedUser = errors.New("user is not allowed through this issuer")
	// ErrReservedUser is returned for a username in Kubernetes' "system:"
	// namespace that the issuer's kind may not emit (see Kind).
	ErrReservedUser = errors.New("user is in the namespace kubernetes reserves for itself")
	// ErrEmptyUsername is returned for an identity without a username, which
	// would otherwise become the bare prefix, a name no one owns.
	ErrEmptyUsername = errors.New("token identity has an empty username")
)

// Mapper maps identities of one issuer.
type Mapper struct {
	issuer string
	kind   Kind
	prefix string
	// The deny lists are keyed by foldKey, so a case or compatibility
	// variant of a denied name is denied too.
	deniedGroups    map[string]bool
	deniedUsernames map[string]bool
}

// New returns a Mapper for an issuer of kind. deniedGroups and
// deniedUsernames are unprefixed names as the issuer emits them;
// system:masters is always denied.
func New(issuer string, kind Kind, prefix string, deniedGroups, deniedUsernames []string) *Mapper {
	m := &Mapper{issuer: issuer, kind: kind, prefix: prefix, deniedGroups: map[string]bool{}, deniedUsernames: map[string]bool{}}
	for _, g := range slices.Concat(alwaysDenied, deniedGroups) {
		m.deniedGroups[foldKey(g)] = true
	}
	for _, u := range deniedUsernames {
		m.deniedUsernames[foldKey(u)] = true
	}
	return m
}

// Map returns a new response; in is left untouched. A reserved or denied
// username refuses the whole identity: no other name could stand in for
// it. A reserved or denied group is dropped, as system:masters always was:
// RBAC has no deny rules, so one group fewer only ever grants less.
func (m *Mapper) Map(in *authenticator.Response) (*authenticator.Response, error) {
	u := in.User
	if u == nil || u.GetName() == "" {
		return nil, ErrEmptyUsername
	}
	name := u.GetName()
	key := foldKey(name)
	if m.deniedUsernames[key] {
		return nil, ErrDeniedUser
	}
	r := m.kind.reservedFor(name, key)
	if r.userReserved {
		return nil, ErrReservedUser
	}
	out := &user.DefaultInfo{
		Name:   m.prefix + name,
		UID:    u.GetUID(),
		Groups: m.groups(r, u.GetGroups()),
		Extra:  m.extra(u.GetExtra()),
	}
	return &authenticator.Response{User: out, Audiences: slices.Clone(in.Audiences)}, nil
}

// groups prefixes the groups of in that are neither denied nor reserved.
func (m *Mapper) groups(r reserved, in []string) []string {
	out := make([]string, 0, len(in))
	for _, g := range in {
		// An empty group would be the bare prefix, a group no one owns.
		if g == "" {
			continue
		}
		key, prefixed := foldKey(g), m.prefix+g
		// Denied with and without the prefix: an issuer must not smuggle
		// "system:masters" in by emitting a group that prefixes into it.
		if m.deniedGroups[key] || m.deniedGroups[foldKey(prefixed)] || r.dropsGroup(g, key) {
			continue
		}
		out = append(out, prefixed)
	}
	return out
}

func (m *Mapper) extra(in map[string][]string) map[string][]string {
	out := make(map[string][]string, len(in)+1)
	for k, v := range in {
		if !IsReservedExtra(k) {
			out[k] = slices.Clone(v)
		}
	}
	out[IssuerExtraKey] = []string{m.issuer}
	return out
}

// IsReservedExtra reports whether key is in tokenfed's own extra domain,
// in any spelling that folds to it.
func IsReservedExtra(key string) bool {
	return hasPrefixFold(key, foldKey(key), ReservedExtraDomain)
}
