package jwt

import "github.com/tokenfed/tokenfed/pkg/authn/jws"

// PeekRefs reads the objects a service-account token depends on from its
// claims, WITHOUT verifying it: for a token that could not be verified
// locally and that its cluster is asked about (a legacy token, a key
// tokenfed does not hold). Only use refs in a way that can reject or
// withdraw an answer, never grant one: a forged token can claim anything,
// but a token its cluster vouches for carries the cluster's own claims.
// ok is false for a token whose claims name no ServiceAccount the way
// kube-apiserver's validators require.
func PeekRefs(token string) (refs Refs, ok bool) {
	t, err := jws.Parse(token)
	if err != nil {
		return Refs{}, false
	}
	return RefsOf(t)
}

// RefsOf is PeekRefs for a token already parsed, as routing parsed it.
func RefsOf(t *jws.Token) (refs Refs, ok bool) {
	c, err := decodeSAClaims(&t.Claims)
	if err != nil {
		return Refs{}, false
	}
	if c.Issuer == jws.LegacyIssuer {
		if c.checkLegacy() != nil {
			return Refs{}, false
		}
		return Refs{
			Namespace:      c.LegacyNamespace,
			ServiceAccount: ObjectRef{Name: c.LegacyServiceAccountName, UID: c.LegacyServiceAccountUID, Set: true},
			Secret:         ObjectRef{Name: c.LegacySecretName, Set: true},
			Legacy:         true,
		}, true
	}
	if _, _, err := c.Kubernetes.serviceAccountInfo(c.ID); err != nil {
		return Refs{}, false
	}
	refs = c.Kubernetes.refs()
	refs.IssuedAt = expiry(c.IssuedAt)
	return refs, true
}
