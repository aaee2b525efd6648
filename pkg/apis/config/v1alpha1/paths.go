package v1alpha1

import (
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// filePaths lists every field of c that names a file, with its path
// (cmd/tokenfed's TestValidateRefusesCredentialsInEveryPathField checks
// that it is every one).
func filePaths(c *Configuration) []filePath {
	s, sp := &c.Server, field.NewPath("server")
	paths := []filePath{
		{sp.Child("tlsCertFile"), &s.TLSCertFile}, {sp.Child("tlsPrivateKeyFile"), &s.TLSPrivateKeyFile},
		{sp.Child("clientCAFile"), &s.ClientCAFile},
	}
	for i := range c.Issuers {
		is, ip := &c.Issuers[i], field.NewPath("issuers").Index(i)
		if is.StaticKeys != nil {
			paths = append(paths, filePath{ip.Child("staticKeys", "file"), &is.StaticKeys.File})
		}
		f, fp := &is.Fetch, ip.Child("fetch")
		paths = append(paths,
			filePath{fp.Child("caFile"), &f.CAFile}, filePath{fp.Child("bearerTokenFile"), &f.BearerTokenFile},
			filePath{fp.Child("clientCertFile"), &f.ClientCertFile}, filePath{fp.Child("clientKeyFile"), &f.ClientKeyFile})
		if is.Upstream != nil {
			paths = append(paths, filePath{ip.Child("upstream", "kubeconfig"), &is.Upstream.Kubeconfig})
		}
	}
	if d := c.Callers.Authorization.Delegated; d != nil {
		paths = append(paths, filePath{field.NewPath("callers", "authorization", "delegated", "kubeconfig"), &d.Kubeconfig})
	}
	return paths
}

type filePath struct {
	path  *field.Path
	value *string
}

// jwtShape is a compact JWS whose header is a JSON object: what a pasted
// bearer token looks like, and no file name does.
var jwtShape = regexp.MustCompile(`^eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$`)

// credentialLike reports whether v is a credential or a file's content
// rather than a path: several lines (a PEM block, a kubeconfig), a PEM
// header, or a JWT.
func credentialLike(v string) bool {
	return strings.ContainsAny(v, "\n\r") || strings.Contains(v, "-----BEGIN") || jwtShape.MatchString(strings.TrimSpace(v))
}

// validateFilePaths refuses a credential pasted where a path goes, without
// repeating it, and returns the values to keep out of every other error.
func validateFilePaths(c *Configuration) (field.ErrorList, map[string]bool) {
	var errs field.ErrorList
	secrets := map[string]bool{}
	for _, fp := range filePaths(c) {
		if v := *fp.value; v != "" && credentialLike(v) {
			secrets[v] = true
			errs = append(errs, field.Invalid(fp.path, field.OmitValueType{}, "holds what looks like a credential or a file's content (not repeated here), not a file path: put it in a file and name the file"))
		}
	}
	return errs, secrets
}

// withoutSecrets leaves the values of secrets out of errs.
func withoutSecrets(errs field.ErrorList, secrets map[string]bool) field.ErrorList {
	if len(secrets) == 0 {
		return errs
	}
	for _, e := range errs {
		if s, ok := e.BadValue.(string); ok && secrets[s] {
			e.BadValue = field.OmitValueType{}
		}
	}
	return errs
}
