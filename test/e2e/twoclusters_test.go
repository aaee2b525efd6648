package e2e

import (
	"strings"
	"testing"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/federation"
)

// TestSameNameInTwoClusters: ns/app in the hub and ns/app in a second
// cluster are two users on the member; RBAC that grants one does not grant
// the other.
func TestSameNameInTwoClusters(t *testing.T) {
	other := controlplane.StartT(t, controlplane.Options{Name: "other"})
	if err := other.AllowAnonymousIssuerDiscovery(ctx(t)); err != nil {
		t.Fatal(err)
	}
	f := startFederation(t, federation.Options{WebhookVersion: "v1", MutateConfig: func(cfg *v1alpha1.Configuration, _ *controlplane.ControlPlane) {
		cfg.Issuers = append(cfg.Issuers, federation.HubIssuer("other", other))
	}})
	hubToken := hubTokenForMember(t, f, "shop", "app")
	otherFed := &federation.Federation{Hub: other}
	otherToken := hubTokenForMember(t, otherFed, "shop", "app")

	for token, want := range map[string]string{hubToken: "hub:system:serviceaccount:shop:app", otherToken: "other:system:serviceaccount:shop:app"} {
		out, stderr, err := f.Member.KubectlAs(ctx(t), token, "auth", "whoami")
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("got %q %q %v, want %s", out, stderr, err, want)
		}
	}
	grant := []string{"--kubeconfig", f.Member.Kubeconfig, "-n", "default"}
	kubectlAdmin(t, append(grant, "create", "role", "reader", "--verb=list", "--resource=configmaps")...)
	kubectlAdmin(t, append(grant, "create", "rolebinding", "hub-app", "--role=reader", "--user=hub:system:serviceaccount:shop:app")...)

	if out, stderr, err := f.Member.KubectlAs(ctx(t), hubToken, "-n", "default", "get", "configmaps"); err != nil {
		t.Fatalf("hub's shop/app: got %q %q %v, want allowed", out, stderr, err)
	}
	_, stderr, err := f.Member.KubectlAs(ctx(t), otherToken, "-n", "default", "get", "configmaps")
	if err == nil || !strings.Contains(stderr, `User "other:system:serviceaccount:shop:app" cannot list`) {
		t.Fatalf("other's shop/app: got err=%v stderr=%q, want Forbidden for the other cluster's user", err, stderr)
	}
}
