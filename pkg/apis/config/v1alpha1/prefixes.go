package v1alpha1

import (
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// reservedPrefix is Kubernetes' own identity namespace: system:masters,
// system:serviceaccount:..., system:node:... A federated user must never
// land in it by way of a prefix.
const reservedPrefix = "system:"

// validatePrefixes keeps the identity namespaces of issuers disjoint: what
// one issuer can emit (prefix + anything) must never be something another
// issuer can emit. Two prefixes overlap exactly when one starts the other,
// so equal, nested ("hub:" and "hub:x:") and system:-touching prefixes are
// refused. Comparison ignores case, because some consumers of identities
// (audit pipelines, external authorizers) do. The empty prefix starts every
// other one; it is allowed once, and its answers are checked at run time
// instead (see mapping.Namespaces).
//
// Prefixes are printable ASCII: there, ignoring case is just ASCII
// lower-casing, and it agrees with the run-time check, which compares
// names on their Unicode case fold and NFKC form. Outside ASCII, "ſtaging:"
// (U+017F) lower-cases to itself yet folds to "staging:", and a fullwidth
// "ｈｕｂ:" is "hub:" after NFKC: no simple rule here would catch every
// such pair.
func validatePrefixes(issuers []Issuer, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	type seenPrefix struct {
		index int
		lower string
	}
	var seen []seenPrefix
	for i := range issuers {
		prefix, ok := issuerPrefix(&issuers[i])
		if !ok {
			continue
		}
		pp := p.Index(i).Child("mapping", "prefix")
		if !isPrintableASCII(prefix) {
			allErrs = append(allErrs, field.Invalid(pp, prefix, "must be printable ASCII without spaces"))
			continue
		}
		lower := strings.ToLower(prefix)
		if lower != "" && overlaps(lower, reservedPrefix) {
			allErrs = append(allErrs, field.Invalid(pp, prefix, "must not overlap the reserved \""+reservedPrefix+"\" namespace: Kubernetes names its own users and groups there (system:masters, system:nodes, ...); use a prefix such as \""+issuers[i].Name+":\""))
		}
		for _, other := range seen {
			if clash := prefixClash(lower, other.lower); clash != "" {
				j := other.index
				other := *issuers[j].Mapping.Prefix
				allErrs = append(allErrs, field.Invalid(pp, prefix, clash+" the prefix of "+p.Index(j).String()+" ("+issuers[j].Name+"), "+strconv.Quote(other)+
					": one issuer's users and groups could be the other's; choose prefixes of which neither starts the other"))
			}
		}
		seen = append(seen, seenPrefix{i, lower})
	}
	return allErrs
}

func issuerPrefix(is *Issuer) (string, bool) {
	if is.Mapping.Prefix == nil {
		return "", false
	}
	return *is.Mapping.Prefix, true
}

// prefixClash describes how a overlaps b, or "" when the two namespaces
// are disjoint. One empty prefix may coexist with others.
func prefixClash(a, b string) string {
	switch {
	case a == b:
		return "equals"
	case a == "" || b == "":
		return ""
	case strings.HasPrefix(b, a):
		return "is the start of"
	case strings.HasPrefix(a, b):
		return "starts with"
	}
	return ""
}

func overlaps(a, b string) bool {
	return strings.HasPrefix(a, b) || strings.HasPrefix(b, a)
}

// isPrintableASCII: '!' through '~', so no spaces, control characters or
// anything that Unicode folding or normalisation could change beyond case.
func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '!' || s[i] > '~' {
			return false
		}
	}
	return true
}
