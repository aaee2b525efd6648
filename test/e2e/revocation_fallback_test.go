package e2e

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn/revocation"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
)

// TestRevocationWatchWithdrawsUpstreamAnswers: tokens tokenfed cannot
// verify itself are the hub's to confirm, with the watch on too: a legacy
// (secret-based) token, and a bound token whose key tokenfed lacks
// (static keys behind a rotation). The hub's answer is cached for the
// success TTL, 10 minutes here; once the watch sees what the token depends
// on go (its ServiceAccount, its Secret, its Pod; a legacy token's Secret
// labelled invalid), the cached answer must
// be withdrawn, as the watch withdraws the answers it vouched for: the
// token is then rejected within the hub's own token cache (10 s) and a few
// seconds, not after the success TTL.
func TestRevocationWatchWithdrawsUpstreamAnswers(t *testing.T) {
	hub := startUpstreamHub(t)
	kubeconfig := watcherKubeconfig(t, hub, "tokenfed", true)
	cache := v1alpha1.Cache{SuccessTTL: metav1.Duration{Duration: 10 * time.Minute}, FailureTTL: metav1.Duration{Duration: time.Millisecond}}
	rev := v1alpha1.Revocation{Secrets: true}

	discovery := startUpstreamTokenfed(t, "discovery", v1alpha1.Configuration{Cache: cache, Issuers: []v1alpha1.Issuer{watchIssuer(hub, kubeconfig, rev)}})
	lagging := v1alpha1.Configuration{Cache: cache}
	foreignKeysOnFailure()(&lagging, hub)
	lagging.Issuers[0].Upstream.Kubeconfig = kubeconfig
	lagging.Issuers[0].Revocation = &v1alpha1.Revocation{Mode: v1alpha1.RevocationWatch, Secrets: true}
	laggingKeys := startUpstreamTokenfed(t, "lagging-keys", lagging)
	waitRevocationSynced(t, discovery, "hub", 30*time.Second)
	waitRevocationSynced(t, laggingKeys, "hub", 30*time.Second)

	if _, err := hub.CreateNamespace(ctx(t), "bound"); err != nil {
		t.Fatal(err)
	}
	pod, err := hub.CreatePod(ctx(t), "bound", "web", "")
	if err != nil {
		t.Fatal(err)
	}
	podToken, err := hub.CreateToken(ctx(t), "bound", "default", controlplane.TokenOptions{BoundPod: &controlplane.BoundObject{Name: pod.Name, UID: pod.UID}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		tf     kubernetes.Interface
		token  string
		revoke func() error
	}{
		{"legacy token, ServiceAccount deleted", tokenfedClient(t, discovery), legacySecretToken(t, hub, "legacy-sa", "robot", "robot-token"), func() error {
			return hub.Client.CoreV1().ServiceAccounts("legacy-sa").Delete(ctx(t), "robot", metav1.DeleteOptions{})
		}},
		{"legacy token, Secret deleted", tokenfedClient(t, discovery), legacySecretToken(t, hub, "legacy-secret", "robot", "robot-token"), func() error {
			return hub.Client.CoreV1().Secrets("legacy-secret").Delete(ctx(t), "robot-token", metav1.DeleteOptions{})
		}},
		{"legacy token, Secret marked invalid", tokenfedClient(t, discovery), legacySecretToken(t, hub, "legacy-invalid", "robot", "robot-token"), func() error {
			// As kube-controller-manager's legacy token cleaner marks an
			// unused token, or an administrator revokes it reversibly.
			patch := []byte(`{"metadata":{"labels":{"kubernetes.io/legacy-token-invalid-since":"2026-01-01"}}}`)
			_, err := hub.Client.CoreV1().Secrets("legacy-invalid").Patch(ctx(t), "robot-token", types.MergePatchType, patch, metav1.PatchOptions{})
			return err
		}},
		{"key not held, Pod deleted", tokenfedClient(t, laggingKeys), podToken, func() error {
			return hub.Client.CoreV1().Pods("bound").Delete(ctx(t), "web", *metav1.NewDeleteOptions(0))
		}},
	}
	for _, tc := range cases {
		wantAuthenticated(t, tc.tf, tc.token, tc.name+", before")
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantAuthenticated(t, tc.tf, tc.token, "cached")
			if err := tc.revoke(); err != nil {
				t.Fatal(err)
			}
			elapsed, reason := pollUntilRejected(t, tc.tf, tc.token, hubTokenCacheTTL+revocation.FreshToken+revocationMargin)
			t.Logf("rejected %s after the delete (%q)", elapsed.Round(time.Millisecond), reason)
		})
	}
}
