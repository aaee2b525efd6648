package v1alpha1

import (
	"fmt"
	"github.com/tokenfed/tokenfed/pkg/authn/jws"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Validate returns every problem in a defaulted configuration, each with its
// field path, so an operator can fix them all in one go.
func Validate(c *Configuration) field.ErrorList {
	pathErrs, secrets := validateFilePaths(c)
	allErrs := append(pathErrs, validateServer(&c.Server, field.NewPath("server"))...)
	allErrs = append(allErrs, validateCache(&c.Cache, field.NewPath("cache"))...)
	allErrs = append(allErrs, validateIssuers(c.Issuers, field.NewPath("issuers"))...)
	allErrs = append(allErrs, validateRevocations(c.Issuers, field.NewPath("issuers"))...)
	allErrs = append(allErrs, validateCallers(c, field.NewPath("callers"))...)
	allErrs = append(allErrs, validateReadiness(&c.Readiness, field.NewPath("readiness"))...)
	if c.OpaqueTokenUpstream != "" && !hasUpstream(c.Issuers, c.OpaqueTokenUpstream) {
		allErrs = append(allErrs, field.Invalid(field.NewPath("opaqueTokenUpstream"), c.OpaqueTokenUpstream, "must name an issuer whose upstream policy is not never"))
	}
	return withoutSecrets(allErrs, secrets)
}

func hasUpstream(issuers []Issuer, name string) bool {
	return slices.ContainsFunc(issuers, func(is Issuer) bool {
		return is.Name == name && is.Upstream != nil && is.Upstream.Policy != UpstreamNever
	})
}

func validateServer(s *Server, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if net.ParseIP(s.BindAddress) == nil {
		allErrs = append(allErrs, field.Invalid(p.Child("bindAddress"), s.BindAddress, "must be an IP address"))
	}
	if s.SecurePort < 1 || s.SecurePort > 65535 {
		allErrs = append(allErrs, field.Invalid(p.Child("securePort"), s.SecurePort, "must be between 1 and 65535"))
	}
	if s.TLSCertFile == "" {
		allErrs = append(allErrs, field.Required(p.Child("tlsCertFile"), "tokenfed serves HTTPS only"))
	}
	if s.TLSPrivateKeyFile == "" {
		allErrs = append(allErrs, field.Required(p.Child("tlsPrivateKeyFile"), "tokenfed serves HTTPS only"))
	}
	if s.MaxRequestBodyBytes < 4096 || s.MaxRequestBodyBytes > 16<<20 {
		allErrs = append(allErrs, field.Invalid(p.Child("maxRequestBodyBytes"), s.MaxRequestBodyBytes, "must be between 4096 and 16777216"))
	}
	allErrs = append(allErrs, validatePositive(s.ReadTimeout.Duration, p.Child("readTimeout"))...)
	allErrs = append(allErrs, validatePositive(s.WriteTimeout.Duration, p.Child("writeTimeout"))...)
	allErrs = append(allErrs, validatePositive(s.IdleTimeout.Duration, p.Child("idleTimeout"))...)
	allErrs = append(allErrs, validatePositive(s.ShutdownGracePeriod.Duration, p.Child("shutdownGracePeriod"))...)
	return append(allErrs, validateServerLimits(s, p)...)
}

// validateServerLimits: every bound is positive. HTTP/2 allows up to 2^31-1
// streams, but a connection with more than 10000 would hold more goroutines
// than any bound here is meant to allow.
func validateServerLimits(s *Server, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if s.MaxConnections < 1 {
		allErrs = append(allErrs, field.Invalid(p.Child("maxConnections"), s.MaxConnections, "must be positive"))
	}
	if s.MaxRequestsInFlight < 1 {
		allErrs = append(allErrs, field.Invalid(p.Child("maxRequestsInFlight"), s.MaxRequestsInFlight, "must be positive"))
	}
	if s.MaxConcurrentStreams < 1 || s.MaxConcurrentStreams > 10000 {
		allErrs = append(allErrs, field.Invalid(p.Child("maxConcurrentStreams"), s.MaxConcurrentStreams, "must be between 1 and 10000"))
	}
	return allErrs
}

func validateCache(c *Cache, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if c.SuccessTTL.Duration < 0 {
		allErrs = append(allErrs, field.Invalid(p.Child("successTTL"), c.SuccessTTL.Duration.String(), "must not be negative"))
	}
	if c.FailureTTL.Duration < 0 {
		allErrs = append(allErrs, field.Invalid(p.Child("failureTTL"), c.FailureTTL.Duration.String(), "must not be negative"))
	}
	if c.MaxEntries < 1 {
		allErrs = append(allErrs, field.Invalid(p.Child("maxEntries"), c.MaxEntries, "must be positive"))
	}
	return allErrs
}

func validateIssuers(issuers []Issuer, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	names := sets.New[string]()
	for i := range issuers {
		ip := p.Index(i)
		if names.Has(issuers[i].Name) {
			allErrs = append(allErrs, field.Duplicate(ip.Child("name"), issuers[i].Name))
		}
		names.Insert(issuers[i].Name)
		allErrs = append(allErrs, validateIssuer(&issuers[i], ip)...)
	}
	allErrs = append(allErrs, validateKeyIDs(issuers, p)...)
	return append(allErrs, validatePrefixes(issuers, p)...)
}

// validateKeyIDs: keyIDs assign kids to an issuer, and routing trusts them
// over any fetched document, so among issuers whose tokens can carry one
// iss a kid has one owner. Issuers share an iss when their URLs are equal,
// and every ServiceAccount issuer shares the legacy iss, which tokenfed
// routes by kid alone.
func validateKeyIDs(issuers []Issuer, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	owners := map[issKid]int{} // index of the issuer listing the kid
	for i := range issuers {
		kp := p.Index(i).Child("keyIDs")
		seen := sets.New[string]()
		for j, kid := range issuers[i].KeyIDs {
			switch {
			case kid == "":
				allErrs = append(allErrs, field.Invalid(kp.Index(j), kid, "must not be empty"))
			case seen.Has(kid):
				allErrs = append(allErrs, field.Duplicate(kp.Index(j), kid))
			default:
				allErrs = append(allErrs, claimKid(issuers, i, kid, owners, kp.Index(j))...)
			}
			seen.Insert(kid)
		}
	}
	return allErrs
}

type issKid struct{ iss, kid string }

// claimKid records issuer i as the owner of kid for each iss it claims, and
// reports the first earlier issuer that owns it for one of them.
func claimKid(issuers []Issuer, i int, kid string, owners map[issKid]int, p *field.Path) field.ErrorList {
	var conflict field.ErrorList
	for _, iss := range claimedIssuers(&issuers[i]) {
		key := issKid{iss: iss, kid: kid}
		o, taken := owners[key]
		switch {
		case !taken:
			owners[key] = i
		case conflict == nil:
			msg := fmt.Sprintf("issuers[%d] (%s) lists it too, and both issue tokens with iss %q", o, issuers[o].Name, iss)
			conflict = field.ErrorList{field.Invalid(p, kid, msg)}
		}
	}
	return conflict
}

// claimedIssuers are the iss values of an issuer's tokens, as routing sees
// them.
func claimedIssuers(is *Issuer) []string {
	if is.Type == IssuerTypeServiceAccount && is.URL != jws.LegacyIssuer {
		return []string{is.URL, jws.LegacyIssuer}
	}
	return []string{is.URL}
}

func validateIssuer(is *Issuer, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, msg := range utilvalidation.IsDNS1123Label(is.Name) {
		allErrs = append(allErrs, field.Invalid(p.Child("name"), is.Name, msg))
	}
	if is.Type != IssuerTypeServiceAccount && is.Type != IssuerTypeOIDC {
		allErrs = append(allErrs, field.NotSupported(p.Child("type"), is.Type, []IssuerType{IssuerTypeServiceAccount, IssuerTypeOIDC}))
	}
	allErrs = append(allErrs, validateIssuerURL(is, p)...)
	allErrs = append(allErrs, validateKeySource(is, p)...)
	allErrs = append(allErrs, validateAudiences(is, p)...)
	allErrs = append(allErrs, validateAlgorithms(is.Algorithms, p.Child("algorithms"))...)
	allErrs = append(allErrs, validateFetch(&is.Fetch, p.Child("fetch"))...)
	allErrs = append(allErrs, validateMapping(&is.Mapping, p.Child("mapping"))...)
	if is.Type != IssuerTypeOIDC {
		allErrs = append(allErrs, validateOIDCOnly(is, p)...)
	} else if len(is.Audiences) > 0 && is.URL != "" {
		// kube-apiserver checks url, audiences and audienceMatchPolicy
		// too: a field already in error is not reported twice.
		for _, e := range validateOIDC(is, p) {
			if !slices.ContainsFunc(allErrs, func(o *field.Error) bool { return o.Field == e.Field }) {
				allErrs = append(allErrs, e)
			}
		}
	}
	if is.Upstream != nil {
		allErrs = append(allErrs, validateUpstream(is.Upstream, p.Child("upstream"))...)
	}
	return allErrs
}

func validateIssuerURL(is *Issuer, p *field.Path) field.ErrorList {
	if is.URL == "" {
		return field.ErrorList{field.Required(p.Child("url"), "the exact `iss` claim of the issuer's tokens")}
	}
	// Legacy service-account tokens carry this non-URL issuer.
	if is.Type == IssuerTypeServiceAccount && is.URL == jws.LegacyIssuer {
		return nil
	}
	return validateHTTPSURL(is.URL, p.Child("url"))
}

func validateKeySource(is *Issuer, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	sources := 0
	for _, set := range []bool{is.DiscoveryURL != "", is.JWKSURL != "", is.StaticKeys != nil} {
		if set {
			sources++
		}
	}
	if sources > 1 {
		allErrs = append(allErrs, field.Forbidden(p, "set at most one of discoveryURL, jwksURL and staticKeys"))
	}
	if is.DiscoveryURL != "" {
		allErrs = append(allErrs, validateHTTPSURL(is.DiscoveryURL, p.Child("discoveryURL"))...)
	}
	if is.JWKSURL != "" {
		allErrs = append(allErrs, validateHTTPSURL(is.JWKSURL, p.Child("jwksURL"))...)
	}
	if sk := is.StaticKeys; sk != nil && (sk.JWKS == "") == (sk.File == "") {
		allErrs = append(allErrs, field.Invalid(p.Child("staticKeys"), "", "set exactly one of jwks and file"))
	}
	if sources == 0 && is.URL == jws.LegacyIssuer {
		allErrs = append(allErrs, field.Required(p.Child("staticKeys"), "the legacy issuer has no discovery; give its keys"))
	}
	return allErrs
}

func validateAudiences(is *Issuer, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(is.Audiences) == 0 && !audiencesDefaultMissed(is) {
		allErrs = append(allErrs, field.Required(p.Child("audiences"), "tokens of any audience would be accepted"))
	}
	allErrs = append(allErrs, validateAudienceValues(is.Audiences, p.Child("audiences"))...)
	allErrs = append(allErrs, validateAudienceValues(is.ReviewAudiences, p.Child("reviewAudiences"))...)
	if is.AudienceMatchPolicy != "MatchAny" {
		allErrs = append(allErrs, field.NotSupported(p.Child("audienceMatchPolicy"), is.AudienceMatchPolicy, []string{"MatchAny"}))
	}
	return allErrs
}

// audiencesDefaultMissed: a ServiceAccount issuer's audiences default to
// its url, so they are missing only because the type or the url is wrong,
// which is reported already; saying "audiences required" too would send
// the operator after the wrong field.
func audiencesDefaultMissed(is *Issuer) bool {
	return is.Type != IssuerTypeOIDC && (is.Type != IssuerTypeServiceAccount || is.URL == "")
}

// ReservedAudienceDomain holds the audiences tokenfed uses for its own
// protocol, such as the loop guard it adds to upstream reviews. An issuer
// configured to accept one would turn tokens minted for it into credentials.
const ReservedAudienceDomain = "tokenfed.io/"

func validateAudienceValues(auds []string, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i, a := range auds {
		switch {
		case strings.TrimSpace(a) == "":
			allErrs = append(allErrs, field.Invalid(p.Index(i), a, "must not be empty"))
		case strings.HasPrefix(strings.ToLower(a), ReservedAudienceDomain):
			allErrs = append(allErrs, field.Invalid(p.Index(i), a, "the "+ReservedAudienceDomain+" domain is reserved for tokenfed"))
		}
	}
	return allErrs
}

func validateAlgorithms(algs []string, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i, a := range algs {
		if !jws.Supported(a) {
			allErrs = append(allErrs, field.NotSupported(p.Index(i), a, jws.Algorithms))
		}
	}
	return allErrs
}

func validateFetch(f *Fetch, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if (f.ClientCertFile == "") != (f.ClientKeyFile == "") {
		allErrs = append(allErrs, field.Invalid(p.Child("clientCertFile"), f.ClientCertFile, "clientCertFile and clientKeyFile go together"))
	}
	allErrs = append(allErrs, validatePositive(f.Timeout.Duration, p.Child("timeout"))...)
	allErrs = append(allErrs, validatePositive(f.UnknownKidCooldown.Duration, p.Child("unknownKidCooldown"))...)
	allErrs = append(allErrs, validatePositive(f.MaxStaleness.Duration, p.Child("maxStaleness"))...)
	if f.MinRefresh.Duration <= 0 || f.MinRefresh.Duration > f.MaxRefresh.Duration {
		allErrs = append(allErrs, field.Invalid(p.Child("minRefresh"), f.MinRefresh.Duration.String(), "must be positive and at most maxRefresh"))
	}
	return allErrs
}

func validateMapping(m *Mapping, p *field.Path) field.ErrorList {
	if m.Prefix != nil && *m.Prefix == "" && !m.AllowUnprefixed {
		return field.ErrorList{field.Forbidden(p.Child("prefix"), "an empty prefix needs allowUnprefixed: true")}
	}
	return nil
}

func validateOIDCOnly(is *Issuer, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if is.ClaimMappings != nil {
		allErrs = append(allErrs, field.Forbidden(p.Child("claimMappings"), "only for type OIDC"))
	}
	if len(is.ClaimValidationRules) > 0 {
		allErrs = append(allErrs, field.Forbidden(p.Child("claimValidationRules"), "only for type OIDC"))
	}
	if len(is.UserValidationRules) > 0 {
		allErrs = append(allErrs, field.Forbidden(p.Child("userValidationRules"), "only for type OIDC"))
	}
	if len(is.ReviewAudiences) > 0 {
		allErrs = append(allErrs, field.Forbidden(p.Child("reviewAudiences"), "only for type OIDC: a service-account token carries the audiences it is for"))
	}
	return allErrs
}

func validateUpstream(u *Upstream, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if (u.Kubeconfig == "") == !u.InCluster {
		allErrs = append(allErrs, field.Invalid(p.Child("kubeconfig"), u.Kubeconfig, "set exactly one of kubeconfig and inCluster"))
	}
	policies := []UpstreamPolicy{UpstreamNever, UpstreamOnFailure, UpstreamAlways, UpstreamWhenBound}
	if !slices.Contains(policies, u.Policy) {
		allErrs = append(allErrs, field.NotSupported(p.Child("policy"), u.Policy, policies))
	}
	allErrs = append(allErrs, validatePositive(u.Timeout.Duration, p.Child("timeout"))...)
	if u.MaxConcurrent < 1 {
		allErrs = append(allErrs, field.Invalid(p.Child("maxConcurrent"), u.MaxConcurrent, "must be positive"))
	}
	return allErrs
}

func validateHTTPSURL(raw string, p *field.Path) field.ErrorList {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return field.ErrorList{field.Invalid(p, raw, "must be an https URL")}
	}
	if u.User != nil || u.Fragment != "" || u.RawQuery != "" {
		return field.ErrorList{field.Invalid(p, raw, "must not have user info, query or fragment")}
	}
	return nil
}

func validatePositive(d time.Duration, p *field.Path) field.ErrorList {
	if d <= 0 {
		return field.ErrorList{field.Invalid(p, d.String(), "must be positive")}
	}
	return nil
}
