package v1alpha1

import (
	"slices"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateRevocations checks each issuer's revocation block against the
// issuer it belongs to: watching needs the issuing cluster's credentials,
// which only an upstream gives, and some upstream policies contradict it.
func validateRevocations(issuers []Issuer, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i := range issuers {
		if issuers[i].Revocation != nil {
			allErrs = append(allErrs, validateRevocation(&issuers[i], p.Index(i))...)
		}
	}
	return allErrs
}

func validateRevocation(is *Issuer, p *field.Path) field.ErrorList {
	r, rp := is.Revocation, p.Child("revocation")
	var allErrs field.ErrorList
	if is.Type != IssuerTypeServiceAccount {
		allErrs = append(allErrs, field.Forbidden(rp, "only for type ServiceAccount: an OIDC token references no cluster objects"))
	}
	switch r.Mode {
	case RevocationWatch:
	case "":
		// A block without a mode says nothing: "unsupported value ''"
		// would read as if "" had been written.
		allErrs = append(allErrs, field.Required(rp.Child("mode"), "watch, the only mode"))
	default:
		allErrs = append(allErrs, field.NotSupported(rp.Child("mode"), r.Mode, []RevocationMode{RevocationWatch}))
	}
	fallbacks := []RevocationFallback{RevocationFallbackUpstream, RevocationFallbackReject}
	if !slices.Contains(fallbacks, r.NotSynced) {
		allErrs = append(allErrs, field.NotSupported(rp.Child("notSynced"), r.NotSynced, fallbacks))
	}
	allErrs = append(allErrs, validatePositive(r.MaxWatchOutage.Duration, rp.Child("maxWatchOutage"))...)
	if is.Upstream == nil {
		return append(allErrs, field.Required(p.Child("upstream"), "revocation watches the issuing cluster with the upstream's kubeconfig or inCluster credentials"))
	}
	pp := p.Child("upstream", "policy")
	switch is.Upstream.Policy {
	case UpstreamAlways:
		allErrs = append(allErrs, field.Invalid(pp, is.Upstream.Policy, "always has the cluster confirm every token, which already covers revocation: use onFailure with revocation, or drop revocation"))
	case UpstreamWhenBound:
		allErrs = append(allErrs, field.Invalid(pp, is.Upstream.Policy, "with revocation the watch checks bound tokens without asking the cluster: use onFailure (or never, with revocation.notSynced reject)"))
	case UpstreamNever:
		if r.NotSynced == RevocationFallbackUpstream {
			// upstream is the default: say so, as the file may not name it.
			allErrs = append(allErrs, field.Invalid(rp.Child("notSynced"), r.NotSynced, "upstream (the default) falls back to the cluster's TokenReview API, which upstream policy never rules out: set notSynced: reject, or policy onFailure"))
		}
	}
	return allErrs
}
