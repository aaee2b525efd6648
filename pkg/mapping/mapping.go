// Package mapping presents a verified identity as its issuer's federated
// identity: a prefix on the username and every group, denied groups removed,
// denied usernames rejected, and the tokenfed.io/issuer extra. Like
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
// cluster-admin on any cluster that trusts tokenfed.
var alwaysDenied = []string{user.SystemPrivilegedGroup}

// ReservedExtraDomain holds the extra keys only tokenfed may set, matched
// without regard to case: an upstream or claim mapping that emits
// "Tokenfed.io/Issuer" must not sit next to the real one.
const ReservedExtraDomain = "tokenfed.io/"

var (
	// ErrDeniedUser is returned for a username on the deny list.
	ErrDeniedUser = errors.New("user is not allowed through this issuer")
	// ErrEmptyUsername is returned for an identity without a username, which
	// would otherwise become the bare prefix, a name no one owns.
	ErrEmptyUsername = errors.New("token identity has an empty username")
)

// Mapper maps identities of one issuer.
type Mapper struct {
	issuer          string
	prefix          string
	deniedGroups    map[string]bool
	deniedUsernames map[string]bool
}

// New returns a Mapper. deniedGroups and deniedUsernames are unprefixed
// names as the issuer emits them; system:masters is always denied.
func New(issuer, prefix string, deniedGroups, deniedUsernames []string) *Mapper {
	m := &Mapper{issuer: issuer, prefix: prefix, deniedGroups: map[string]bool{}, deniedUsernames: map[string]bool{}}
	for _, g := range slices.Concat(alwaysDenied, deniedGroups) {
		m.deniedGroups[g] = true
	}
	for _, u := range deniedUsernames {
		m.deniedUsernames[u] = true
	}
	return m
}

// Map returns a new response; in is left untouched.
func (m *Mapper) Map(in *authenticator.Response) (*authenticator.Response, error) {
	u := in.User
	if u == nil || u.GetName() == "" {
		return nil, ErrEmptyUsername
	}
	if m.deniedUsernames[u.GetName()] {
		return nil, ErrDeniedUser
	}
	out := &user.DefaultInfo{
		Name:   m.prefix + u.GetName(),
		UID:    u.GetUID(),
		Groups: m.groups(u.GetGroups()),
		Extra:  m.extra(u.GetExtra()),
	}
	return &authenticator.Response{User: out, Audiences: slices.Clone(in.Audiences)}, nil
}

func (m *Mapper) groups(in []string) []string {
	out := make([]string, 0, len(in))
	for _, g := range in {
		// An empty group would be the bare prefix, a group no one owns.
		if g == "" {
			continue
		}
		// Denied with and without the prefix: an issuer must not smuggle
		// "system:masters" in by emitting a group that prefixes into it.
		if m.deniedGroups[g] || m.deniedGroups[m.prefix+g] {
			continue
		}
		out = append(out, m.prefix+g)
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

// IsReservedExtra reports whether key is in tokenfed's own extra domain.
func IsReservedExtra(key string) bool {
	return hasPrefixFold(key, ReservedExtraDomain)
}
