// Package jwt verifies one issuer's tokens locally: Kubernetes
// service-account tokens with the rules of kube-apiserver's
// pkg/serviceaccount, and OIDC tokens with kube-apiserver's own JWT
// authenticator. Keys come from a keyset.KeySet.
package jwt

import (
	"context"
	"crypto"
	"errors"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
)

// Errors are short and never quote the token, so callers may return them as
// a TokenReview status.error. Key and signature errors come from package
// keyset (keyset.ErrSignature, keyset.ErrUnknownKey, ...).
var (
	ErrIssuer   = errors.New("token issuer is not accepted")
	ErrAudience = errors.New("token audiences do not match the target audiences")
	ErrClaims   = errors.New("service account token claims are incomplete")
	// ErrLegacyNeedsUpstream is returned for a secret-based (legacy) token
	// whose signature, audience and claims are valid. Such a token is valid
	// only while its Secret exists, which only the issuing cluster knows, so
	// the caller decides whether to ask that cluster's TokenReview API.
	ErrLegacyNeedsUpstream = errors.New("legacy service account token must be confirmed by its cluster")
)

// BoundKind is the object a service-account token is bound to. Deleting that
// object revokes the token, which only the issuing cluster can observe.
type BoundKind int

const (
	BoundNone BoundKind = iota
	BoundPod
	BoundSecret
	BoundNode
)

func (b BoundKind) String() string {
	switch b {
	case BoundPod:
		return "pod"
	case BoundSecret:
		return "secret"
	case BoundNode:
		return "node"
	}
	return "none"
}

// Result is a verified token.
type Result struct {
	// Response carries the user and the audiences the token was accepted for.
	Response *authenticator.Response
	// Expiry is the token's exp, zero if it has none. Because of the one
	// minute leeway it may lie slightly in the past; callers capping a cache
	// TTL with it should then not cache.
	Expiry time.Time
	// BoundTo is the bound object kind, for whenBound upstream policies.
	BoundTo BoundKind
	// Refs are the objects a service-account token references, for
	// revocation checks; zero for OIDC tokens.
	Refs Refs
}

// ObjectRef is one object a service-account token references, as its
// kubernetes.io claims name it. Set says the claim is present: a present
// claim with an empty name references an object that cannot exist.
type ObjectRef struct {
	Name, UID string
	Set       bool
}

// Refs are the objects a service-account token depends on, from its
// kubernetes.io claims (pkg/serviceaccount/claims.go in kube-apiserver).
// Which of them the issuing cluster checks is its validator's rule, not
// this type's: a pod-bound token's Node is informational only.
type Refs struct {
	// Namespace is the service account's, and the Pod's and Secret's.
	Namespace      string
	ServiceAccount ObjectRef
	Pod            ObjectRef
	Secret         ObjectRef
	// Node is cluster-scoped.
	Node ObjectRef
	// IssuedAt is the token's iat, zero if it has none.
	IssuedAt time.Time
	// Legacy: the refs are a secret-based token's, which kube-apiserver's
	// legacy validator (pkg/serviceaccount/legacy.go) decides: its Secret
	// is named without a UID, and a deletion timestamp on the Secret or the
	// ServiceAccount revokes it at once.
	Legacy bool
}

// Keys is what verifiers need from a key set; *keyset.KeySet implements it.
type Keys interface {
	Key(ctx context.Context, kid, alg string) (crypto.PublicKey, error)
}

// intersectAudiences applies kube-apiserver's audience rule
// (pkg/serviceaccount/jwt.go): the review's audiences, or the configured
// ones when it names none, intersected with the token's. The result keeps
// the target order and must not be empty.
func intersectAudiences(ctx context.Context, token, configured authenticator.Audiences) (authenticator.Audiences, error) {
	target, ok := authenticator.AudiencesFrom(ctx)
	if !ok || len(target) == 0 {
		target = configured
	}
	auds := token.Intersect(target)
	if len(auds) == 0 {
		return nil, ErrAudience
	}
	return auds, nil
}
