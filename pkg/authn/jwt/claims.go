package jwt

import (
	"errors"

	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	tokenjwt "k8s.io/apiserver/pkg/authentication/token/jwt"
)

// saClaims is everything a service-account token may carry, decoded in one
// pass. The private claim layout is kube-apiserver's
// (pkg/serviceaccount/claims.go and legacy.go).
type saClaims struct {
	josejwt.Claims
	Kubernetes *kubernetesClaims `json:"kubernetes.io,omitempty"`

	LegacyNamespace          string `json:"kubernetes.io/serviceaccount/namespace"`
	LegacySecretName         string `json:"kubernetes.io/serviceaccount/secret.name"`
	LegacyServiceAccountName string `json:"kubernetes.io/serviceaccount/service-account.name"`
	LegacyServiceAccountUID  string `json:"kubernetes.io/serviceaccount/service-account.uid"`
}

type kubernetesClaims struct {
	Namespace      string `json:"namespace,omitempty"`
	ServiceAccount ref    `json:"serviceaccount,omitempty"`
	Pod            *ref   `json:"pod,omitempty"`
	Secret         *ref   `json:"secret,omitempty"`
	Node           *ref   `json:"node,omitempty"`
	Validating     *ref   `json:"validatingwebhookconfiguration,omitempty"`
	Mutating       *ref   `json:"mutatingwebhookconfiguration,omitempty"`
	// Attestations and WarnAfter are unused, but declared with
	// kube-apiserver's types so a token it would fail to decode fails here.
	Attestations map[string][]string  `json:"attestations,omitempty"`
	WarnAfter    *josejwt.NumericDate `json:"warnafter,omitempty"`
}

type ref struct {
	Name string `json:"name,omitempty"`
	UID  string `json:"uid,omitempty"`
}

var errLegacySubject = errors.New("sub claim is invalid")

var errWebhookBound = errors.New("token is bound to a webhook configuration, which requires the disabled-by-default APIServerWebhookAuthenticationToken feature")

// serviceAccountInfo is what kube-apiserver's validator returns once its
// lookups succeed. The lookups (service account, pod, secret, node still
// exist with these UIDs) are the issuing cluster's to make; BoundKind tells
// the caller whether one would matter.
//
// Webhook-bound tokens are refused, as kube-apiserver 1.37 does by default.
func (k *kubernetesClaims) serviceAccountInfo(jti string) (*serviceaccount.ServiceAccountInfo, BoundKind, error) {
	if k == nil || k.Namespace == "" || k.ServiceAccount.Name == "" || k.ServiceAccount.UID == "" {
		return nil, BoundNone, ErrClaims
	}
	if k.Validating != nil || k.Mutating != nil {
		return nil, BoundNone, errWebhookBound
	}
	info := &serviceaccount.ServiceAccountInfo{
		Namespace:    k.Namespace,
		Name:         k.ServiceAccount.Name,
		UID:          k.ServiceAccount.UID,
		CredentialID: tokenjwt.CredentialIDForJTI(jti),
	}
	if k.Pod != nil {
		info.PodName, info.PodUID = k.Pod.Name, k.Pod.UID
	}
	// A pod-bound token's node claim is informational; a node claim alone
	// binds the token to the node.
	if k.Node != nil {
		info.NodeName, info.NodeUID = k.Node.Name, k.Node.UID
	}
	return info, k.boundKind(), nil
}

// refs are the objects the claims reference; k has been checked by
// serviceAccountInfo.
func (k *kubernetesClaims) refs() Refs {
	return Refs{
		Namespace:      k.Namespace,
		ServiceAccount: ObjectRef{Name: k.ServiceAccount.Name, UID: k.ServiceAccount.UID, Set: true},
		Pod:            k.Pod.objectRef(), Secret: k.Secret.objectRef(), Node: k.Node.objectRef(),
	}
}

func (r *ref) objectRef() ObjectRef {
	if r == nil {
		return ObjectRef{}
	}
	return ObjectRef{Name: r.Name, UID: r.UID, Set: true}
}

func (k *kubernetesClaims) boundKind() BoundKind {
	switch {
	case k.Pod != nil:
		return BoundPod
	case k.Secret != nil:
		return BoundSecret
	case k.Node != nil:
		return BoundNode
	}
	return BoundNone
}

// checkLegacy mirrors kube-apiserver's legacyValidator before its Secret
// lookup: all claims present and sub naming the same service account.
func (c *saClaims) checkLegacy() error {
	if c.Subject == "" || c.LegacyNamespace == "" || c.LegacySecretName == "" ||
		c.LegacyServiceAccountName == "" || c.LegacyServiceAccountUID == "" {
		return ErrClaims
	}
	ns, name, err := serviceaccount.SplitUsername(c.Subject)
	if err != nil || ns != c.LegacyNamespace || name != c.LegacyServiceAccountName {
		return errLegacySubject
	}
	return nil
}
