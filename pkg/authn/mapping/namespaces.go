package mapping

import (
	"errors"
	"fmt"
	"slices"

	"k8s.io/apiserver/pkg/authentication/authenticator"
)

// ErrForeignIdentity is an answer that names a user, group or reserved
// extra that belongs to another issuer's identity namespace.
var ErrForeignIdentity = errors.New("token identity falls in another issuer's namespace")

// Namespaces checks every answer against the identity namespaces of all
// issuers: a username or group belongs to the issuer whose prefix starts it,
// or, when none does, to the one unprefixed issuer. Names are compared on
// their foldKey, so a name that equals another issuer's in any letter case
// or Unicode compatibility form is that issuer's. Kubernetes' own "system:"
// namespace belongs to no issuer, except for the service-account shapes,
// which only an unprefixed issuer can emit (Mapper narrows that to
// ServiceAccount issuers). Validation keeps the prefixes disjoint; this
// check is what holds the line for an unprefixed issuer, whose upstream or
// claim mappings may return any name, and it guards against a mapping bug
// on every path.
type Namespaces struct {
	prefixes map[string]string // issuer name -> foldKey of its prefix
}

// NewNamespaces takes each issuer's prefix, by issuer name.
func NewNamespaces(prefixes map[string]string) *Namespaces {
	n := &Namespaces{prefixes: make(map[string]string, len(prefixes))}
	for is, p := range prefixes {
		n.prefixes[is] = foldKey(p)
	}
	return n
}

// Check returns nil when every name in resp is issuer's to emit and the
// reserved extras say exactly issuer; otherwise an error wrapping
// ErrForeignIdentity that names the offending field, never its value.
func (n *Namespaces) Check(issuer string, resp *authenticator.Response) error {
	u := resp.User
	if owner := n.owner(u.GetName()); owner != issuer {
		return fmt.Errorf("%w: username", ErrForeignIdentity)
	}
	for _, g := range u.GetGroups() {
		if owner := n.owner(g); owner != issuer {
			return fmt.Errorf("%w: group", ErrForeignIdentity)
		}
	}
	return checkReservedExtras(issuer, u.GetExtra())
}

// owner is the issuer with the longest prefix that starts name, or ""
// for no one. Validated prefixes are disjoint, so at most one non-empty
// prefix matches; a tie (unvalidated input) has no owner rather than a
// random one.
func (n *Namespaces) owner(name string) string {
	key := foldKey(name)
	if inReservedNamespace(name, key) && !serviceAccountShaped(name) {
		return ""
	}
	best, bestLen := "", -1
	for is, p := range n.prefixes {
		if !hasPrefixFold(name, key, p) {
			continue
		}
		switch {
		case len(p) > bestLen:
			best, bestLen = is, len(p)
		case len(p) == bestLen:
			best = ""
		}
	}
	return best
}

func checkReservedExtras(issuer string, extra map[string][]string) error {
	for k, v := range extra {
		if !IsReservedExtra(k) {
			continue
		}
		if k != IssuerExtraKey || !slices.Equal(v, []string{issuer}) {
			return fmt.Errorf("%w: reserved extra", ErrForeignIdentity)
		}
	}
	if _, ok := extra[IssuerExtraKey]; !ok {
		return fmt.Errorf("%w: missing %s extra", ErrForeignIdentity, IssuerExtraKey)
	}
	return nil
}
