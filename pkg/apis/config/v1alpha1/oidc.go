package v1alpha1

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/apis/apiserver"
	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	apiservervalidation "k8s.io/apiserver/pkg/apis/apiserver/validation"
	authenticationcel "k8s.io/apiserver/pkg/authentication/cel"
)

// JWTAuthenticator converts an OIDC issuer to kube-apiserver's internal
// JWTAuthenticator through kube-apiserver's own v1 conversion, so claim
// mappings and CEL rules mean exactly what they mean there. Without claim
// mappings the username is the `sub` claim, unprefixed (tokenfed's own
// prefix applies afterwards).
func (is *Issuer) JWTAuthenticator() (apiserver.JWTAuthenticator, error) {
	in := apiserverv1.JWTAuthenticator{
		Issuer: apiserverv1.Issuer{
			URL: is.URL, Audiences: is.Audiences,
			AudienceMatchPolicy: apiserverv1.AudienceMatchPolicyType(is.AudienceMatchPolicy),
		},
		ClaimValidationRules: is.ClaimValidationRules,
		UserValidationRules:  is.UserValidationRules,
	}
	if is.ClaimMappings != nil {
		in.ClaimMappings = *is.ClaimMappings
	} else {
		empty := ""
		in.ClaimMappings.Username = apiserverv1.PrefixedClaimOrExpression{Claim: "sub", Prefix: &empty}
	}
	var out apiserver.JWTAuthenticator
	err := apiserverv1.Convert_v1_JWTAuthenticator_To_apiserver_JWTAuthenticator(&in, &out, nil)
	return out, err
}

// validateOIDC runs kube-apiserver's own JWTAuthenticator validation,
// CEL compilation included, so `tokenfed config validate` reports a bad
// expression instead of `serve` failing on it. Its paths are those of the
// JWTAuthenticator (issuer.url, claimMappings...), which tokenfed's file
// does not have: they are mapped to the issuer's own fields, under p.
func validateOIDC(is *Issuer, p *field.Path) field.ErrorList {
	jwtAuth, err := is.JWTAuthenticator()
	if err != nil {
		return field.ErrorList{field.Invalid(p, is.Name, err.Error())}
	}
	_, errs := apiservervalidation.CompileAndValidateJWTAuthenticator(authenticationcel.NewDefaultCompiler(), jwtAuth, nil)
	for _, e := range errs {
		internal := e.Field
		e.Field = oidcPath(internal, p)
		if strings.HasPrefix(internal, "issuer.") {
			// Some details name the field too ("at least one
			// issuer.audiences is required"). Those of claimMappings
			// and the rules name them as tokenfed does.
			e.Detail = strings.ReplaceAll(e.Detail, internal, e.Field)
		}
	}
	return errs
}

// oidcFields maps the fields of kube-apiserver's Issuer that tokenfed
// fills to the Issuer fields they come from. The others (discoveryURL,
// certificateAuthority, egressSelectorType) are never set.
var oidcFields = map[string]string{
	"issuer.url":                 "url",
	"issuer.audiences":           "audiences",
	"issuer.audienceMatchPolicy": "audienceMatchPolicy",
}

// oidcPath maps a path of a JWTAuthenticator to tokenfed's path of the
// same value under the issuer at p. claimMappings, claimValidationRules
// and userValidationRules are tokenfed's fields of the same names, and
// keep their paths.
func oidcPath(internal string, p *field.Path) string {
	for from, to := range oidcFields {
		if internal == from || strings.HasPrefix(internal, from+"[") || strings.HasPrefix(internal, from+".") {
			return p.Child(to).String() + internal[len(from):]
		}
	}
	if rest, ok := strings.CutPrefix(internal, "issuer"); ok && (rest == "" || rest[0] == '.') {
		// A field of the internal Issuer tokenfed has no counterpart for.
		return p.String()
	}
	if internal == "" {
		return p.String()
	}
	return p.String() + "." + internal
}
