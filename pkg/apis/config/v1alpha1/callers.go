package v1alpha1

import (
	"slices"

	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// AllIssuers in CallerPolicy.Issuers grants every issuer.
const AllIssuers = "*"

// PrivilegedEndpoints are the paths CallerPolicy.Endpoints may grant.
var PrivilegedEndpoints = []string{"/metrics", "/readyz", "/debug/pprof"}

// validateCallers checks caller authentication and authorization against
// the server and the issuers.
func validateCallers(c *Configuration, p *field.Path) field.ErrorList {
	cs := &c.Callers
	issuers := sets.New[string]()
	for _, is := range c.Issuers {
		issuers.Insert(is.Name)
	}
	allErrs := validateCallerCredentials(c, p)
	if cs.Tokens != nil {
		allErrs = append(allErrs, validateCallerTokens(cs.Tokens, c.Issuers, p.Child("tokens"))...)
	}
	return append(allErrs, validateCallerAuthorization(&cs.Authorization, issuers, p.Child("authorization"))...)
}

// validateCallerCredentials: tokenfed never starts open to anyone by
// accident. Without a client CA and without caller tokens, anonymous
// callers must be admitted explicitly; with either, anonymous is refused.
func validateCallerCredentials(c *Configuration, p *field.Path) field.ErrorList {
	hasCredential := c.Server.ClientCAFile != "" || c.Callers.Tokens != nil
	switch {
	case !hasCredential && !c.Callers.AllowAnonymous:
		return field.ErrorList{field.Required(p.Child("allowAnonymous"), "no caller credential is configured: set server.clientCAFile (callers present client certificates) or callers.tokens (callers send their own tokens); only on a network you trust, allowAnonymous: true lets anyone who can reach the port ask")}
	case hasCredential && c.Callers.AllowAnonymous:
		return field.ErrorList{field.Forbidden(p.Child("allowAnonymous"), "callers can authenticate (server.clientCAFile or callers.tokens); anonymous callers would bypass that")}
	}
	return nil
}

func validateCallerTokens(t *CallerTokens, all []Issuer, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(t.Audiences) == 0 {
		allErrs = append(allErrs, field.Required(p.Child("audiences"), "a caller token must be minted for tokenfed, or any token of the issuer would do"))
	}
	allErrs = append(allErrs, validateAudienceValues(t.Audiences, p.Child("audiences"))...)
	if len(t.Issuers) == 0 {
		allErrs = append(allErrs, field.Required(p.Child("issuers"), "the issuers whose tokens may be caller credentials"))
	}
	for i, name := range t.Issuers {
		ip := p.Child("issuers").Index(i)
		j := slices.IndexFunc(all, func(is Issuer) bool { return is.Name == name })
		if j < 0 {
			allErrs = append(allErrs, field.NotFound(ip, name))
			continue
		}
		allErrs = append(allErrs, validateCallerTokenIssuer(t, &all[j], ip, p.Child("audiences"))...)
	}
	return allErrs
}

// validateCallerTokenIssuer: a caller token is a credential only because it
// was minted for tokenfed. An audience the issuer's ordinary tokens carry
// (its audiences, such as a cluster's API audience or an OIDC client ID),
// or one its own aud check stands in for (reviewAudiences), would make every
// such token a caller credential, replayable by any service that received
// one. And an unprefixed issuer emits names in the certificate callers'
// namespace (an unprefixed CN or O), so its tokens could take their
// policies.
func validateCallerTokenIssuer(t *CallerTokens, is *Issuer, p, audPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i, a := range t.Audiences {
		switch {
		case slices.Contains(is.Audiences, a):
			allErrs = append(allErrs, field.Invalid(audPath.Index(i), a, "issuer "+is.Name+"'s ordinary tokens carry this audience (issuers[].audiences), so every one of them would be a caller credential: use an audience minted only for tokenfed"))
		case slices.Contains(is.ReviewAudiences, a):
			allErrs = append(allErrs, field.Invalid(audPath.Index(i), a, "issuer "+is.Name+" lists this audience in reviewAudiences, so every token of its own audiences would count as minted for tokenfed: use an audience that is in neither"))
		}
	}
	if is.Mapping.Prefix != nil && *is.Mapping.Prefix == "" {
		allErrs = append(allErrs, field.Invalid(p, is.Name, "an unprefixed issuer emits names of the certificate callers' namespace (CN and O are unprefixed), so its tokens could match their policies: give the issuer a mapping.prefix to use its tokens as caller credentials"))
	}
	return allErrs
}

func validateCallerAuthorization(a *CallerAuthorization, issuers sets.Set[string], p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch a.Mode {
	case CallerAuthorizationStatic:
		if a.Delegated != nil {
			allErrs = append(allErrs, field.Forbidden(p.Child("delegated"), "only in mode Delegated"))
		}
	case CallerAuthorizationDelegated:
		if len(a.Static) > 0 {
			allErrs = append(allErrs, field.Forbidden(p.Child("static"), "only in mode Static"))
		}
		allErrs = append(allErrs, validateDelegated(a.Delegated, p.Child("delegated"))...)
	default:
		allErrs = append(allErrs, field.NotSupported(p.Child("mode"), a.Mode, []CallerAuthorizationMode{CallerAuthorizationStatic, CallerAuthorizationDelegated}))
	}
	names := sets.New[string]()
	for i := range a.Static {
		ip := p.Child("static").Index(i)
		if names.Has(a.Static[i].Name) {
			allErrs = append(allErrs, field.Duplicate(ip.Child("name"), a.Static[i].Name))
		}
		names.Insert(a.Static[i].Name)
		allErrs = append(allErrs, validateCallerPolicy(&a.Static[i], issuers, ip)...)
	}
	return allErrs
}

func validateCallerPolicy(cp *CallerPolicy, issuers sets.Set[string], p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, msg := range utilvalidation.IsDNS1123Label(cp.Name) {
		allErrs = append(allErrs, field.Invalid(p.Child("name"), cp.Name, msg))
	}
	if len(cp.Users)+len(cp.Groups)+len(cp.URIs) == 0 {
		allErrs = append(allErrs, field.Required(p, "at least one of users, groups and uris: a policy that matches nobody is a mistake"))
	}
	for i, name := range cp.Issuers {
		if name != AllIssuers && !issuers.Has(name) {
			allErrs = append(allErrs, field.NotFound(p.Child("issuers").Index(i), name))
		}
	}
	allErrs = append(allErrs, validateAudienceValues(cp.Audiences, p.Child("audiences"))...)
	for i, e := range cp.Endpoints {
		if !slices.Contains(PrivilegedEndpoints, e) {
			allErrs = append(allErrs, field.NotSupported(p.Child("endpoints").Index(i), e, PrivilegedEndpoints))
		}
	}
	return append(allErrs, validateRateLimit(cp.RateLimit, p.Child("rateLimit"))...)
}

func validateDelegated(d *DelegatedAuthorization, p *field.Path) field.ErrorList {
	if d == nil {
		return field.ErrorList{field.Required(p, "mode Delegated needs the cluster to ask: set delegated.inCluster: true or delegated.kubeconfig")}
	}
	var allErrs field.ErrorList
	if (d.Kubeconfig == "") == !d.InCluster {
		allErrs = append(allErrs, field.Invalid(p.Child("kubeconfig"), d.Kubeconfig, "set exactly one of kubeconfig and inCluster"))
	}
	allErrs = append(allErrs, validatePositive(d.AllowCacheTTL.Duration, p.Child("allowCacheTTL"))...)
	allErrs = append(allErrs, validatePositive(d.DenyCacheTTL.Duration, p.Child("denyCacheTTL"))...)
	return append(allErrs, validateRateLimit(d.RateLimit, p.Child("rateLimit"))...)
}

func validateRateLimit(r *RateLimit, p *field.Path) field.ErrorList {
	if r == nil {
		return nil
	}
	var allErrs field.ErrorList
	if r.QPS <= 0 {
		allErrs = append(allErrs, field.Invalid(p.Child("qps"), r.QPS, "must be positive"))
	}
	if r.Burst < 1 {
		allErrs = append(allErrs, field.Invalid(p.Child("burst"), r.Burst, "must be positive"))
	}
	return allErrs
}
