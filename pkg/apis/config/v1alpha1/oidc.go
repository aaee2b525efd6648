package v1alpha1

import (
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
// expression instead of `serve` failing on it. Its paths are relative to
// the JWTAuthenticator (claimMappings..., issuer.url) under the issuer's.
func validateOIDC(is *Issuer, p *field.Path) field.ErrorList {
	jwtAuth, err := is.JWTAuthenticator()
	if err != nil {
		return field.ErrorList{field.Invalid(p, is.Name, err.Error())}
	}
	_, errs := apiservervalidation.CompileAndValidateJWTAuthenticator(authenticationcel.NewDefaultCompiler(), jwtAuth, nil)
	for _, e := range errs {
		e.Field = p.String() + "." + e.Field
	}
	return errs
}
