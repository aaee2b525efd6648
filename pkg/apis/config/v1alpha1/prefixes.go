package v1alpha1

import (
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
		lower := strings.ToLower(prefix)
		if lower != "" && overlaps(lower, reservedPrefix) {
			allErrs = append(allErrs, field.Invalid(pp, prefix, "must not overlap the reserved \""+reservedPrefix+"\" namespace"))
		}
		for _, other := range seen {
			if clash := prefixClash(lower, other.lower); clash != "" {
				j := other.index
				allErrs = append(allErrs, field.Invalid(pp, prefix, clash+" the prefix of "+p.Index(j).String()+" ("+issuers[j].Name+")"))
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
