package controlplane

import (
	"context"
	"fmt"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tokenfed/tokenfed/pkg/testing/secretscan"
)

// TokenOptions shape a service-account token from the TokenRequest API.
type TokenOptions struct {
	// Audiences of the token. Empty means the apiserver's --api-audiences,
	// i.e. a token the apiserver itself accepts.
	Audiences []string
	// Expiration is the requested lifetime. Zero means the apiserver's
	// default (1h); the API rejects less than 10 minutes.
	Expiration time.Duration
	// BoundPod or BoundSecret (at most one) binds the token to an object:
	// the token dies with it, and reviews carry the pod name and UID. An
	// empty UID binds by name only.
	BoundPod    *BoundObject
	BoundSecret *BoundObject
}

// BoundObject names the object a token is bound to.
type BoundObject struct {
	Name string
	UID  types.UID
}

// CreateToken mints a token for service account ns/sa via TokenRequest,
// and registers it with secretscan, which fails the run if any log quotes
// it.
func (c *ControlPlane) CreateToken(ctx context.Context, ns, sa string, opts TokenOptions) (string, error) {
	spec, err := opts.spec()
	if err != nil {
		return "", err
	}
	req := &authv1.TokenRequest{Spec: spec}
	resp, err := c.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("create token for service account %s/%s: %w", ns, sa, err)
	}
	secretscan.Register(resp.Status.Token, "TokenRequest "+ns+"/"+sa)
	return resp.Status.Token, nil
}

func (o TokenOptions) spec() (authv1.TokenRequestSpec, error) {
	spec := authv1.TokenRequestSpec{Audiences: o.Audiences}
	if o.Expiration > 0 {
		seconds := int64(o.Expiration / time.Second)
		spec.ExpirationSeconds = &seconds
	}
	switch {
	case o.BoundPod != nil && o.BoundSecret != nil:
		return spec, fmt.Errorf("token can be bound to a pod or a secret, not both")
	case o.BoundPod != nil:
		spec.BoundObjectRef = o.BoundPod.ref("Pod")
	case o.BoundSecret != nil:
		spec.BoundObjectRef = o.BoundSecret.ref("Secret")
	}
	return spec, nil
}

func (b *BoundObject) ref(kind string) *authv1.BoundObjectReference {
	return &authv1.BoundObjectReference{Kind: kind, APIVersion: "v1", Name: b.Name, UID: b.UID}
}

// TokenReview asks this apiserver (authentication.k8s.io/v1) who token
// belongs to. An invalid token is not an error: the status says so.
func (c *ControlPlane) TokenReview(ctx context.Context, token string, audiences []string) (*authv1.TokenReviewStatus, error) {
	review := &authv1.TokenReview{Spec: authv1.TokenReviewSpec{Token: token, Audiences: audiences}}
	resp, err := c.Client.AuthenticationV1().TokenReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("token review on control plane %q: %w", c.Name, err)
	}
	return &resp.Status, nil
}
