package controlplane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

const (
	// issuerDiscoveryRole is the ClusterRole kube-apiserver bootstraps for
	// reading /.well-known/openid-configuration and /openid/v1/jwks.
	issuerDiscoveryRole = "system:service-account-issuer-discovery"
	// anonymousDiscoveryBinding is the name of the binding this package adds.
	anonymousDiscoveryBinding = "tokenfed:anonymous-issuer-discovery"
	// rbacSyncTimeout bounds the wait for the authorizer to see a new binding.
	rbacSyncTimeout = 30 * time.Second
)

// AllowAnonymousIssuerDiscovery lets unauthenticated clients read the
// issuer's discovery document and keys, as a remote verifier such as
// tokenfed does. It returns once an anonymous request succeeds, because the
// RBAC authorizer sees new bindings only after its informer catches up.
func (c *ControlPlane) AllowAnonymousIssuerDiscovery(ctx context.Context) error {
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: anonymousDiscoveryBinding},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: issuerDiscoveryRole},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "system:unauthenticated"}},
	}
	_, err := c.Client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("allow anonymous issuer discovery: %w", err)
	}
	return c.waitAnonymousDiscovery(ctx)
}

func (c *ControlPlane) waitAnonymousDiscovery(ctx context.Context) error {
	client, err := c.anonymousHTTPClient()
	if err != nil {
		return err
	}
	url := c.URL + "/.well-known/openid-configuration"
	last := 0
	err = wait.PollUntilContextTimeout(ctx, pollInterval, rbacSyncTimeout, true, func(ctx context.Context) (bool, error) {
		last, err = getStatus(ctx, client, url)
		return err == nil && last == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("anonymous GET %s (last status %d): %w", url, last, err)
	}
	return nil
}

// anonymousHTTPClient trusts this control plane's CA and presents nothing.
func (c *ControlPlane) anonymousHTTPClient() (*http.Client, error) {
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read CA: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	return &http.Client{Transport: transport, Timeout: 5 * time.Second}, nil
}

func getStatus(ctx context.Context, client *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
