package e2e

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn/revocation"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/federation"
)

// TestDifferentialAgainstHubWatch is TestDifferentialAgainstHub with
// revocation watch (Secrets granted, so the secret-bound token is decided
// locally too), plus tokens whose objects went away: a deleted and a
// recreated ServiceAccount, a deleted Pod and Secret. Without the watch
// tokenfed accepts those until their exp; with it, its answers are the
// hub's, and none of them cost an upstream review.
func TestDifferentialAgainstHubWatch(t *testing.T) {
	f := startFederation(t, federation.Options{WebhookVersion: "v1", MutateConfig: func(cfg *v1alpha1.Configuration, hub *controlplane.ControlPlane) {
		cfg.Issuers[0].Upstream = &v1alpha1.Upstream{Kubeconfig: hub.Kubeconfig, Policy: v1alpha1.UpstreamOnFailure}
		cfg.Issuers[0].Revocation = &v1alpha1.Revocation{Mode: v1alpha1.RevocationWatch, Secrets: true}
	}})
	pod, secret := hubObjects(t, f.Hub)
	waitRevocationSynced(t, f.Tokenfed, "hub", 30*time.Second)
	// Tokens of objects the watch has not seen yet are not decided by
	// it; these objects are older than that.
	time.Sleep(revocation.FreshToken)
	differential(t, f, pod, secret)

	tokens := goneTokens(t, f.Hub)
	time.Sleep(revocation.FreshToken)
	tokenfed, err := kubernetes.NewForConfig(f.Tokenfed.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	for name, token := range tokens {
		if st := reviewVia(t, tokenfed, token, nil); !st.Authenticated {
			t.Fatalf("%s: rejected before its object went away: %s", name, st.Error)
		}
	}
	upstreamBefore := metricSum(t, f.Tokenfed, `tokenfed_upstream_reviews_total{issuer="hub"`)
	c := f.Hub.Client.CoreV1()
	mustDelete(t, c.ServiceAccounts("gone").Delete(ctx(t), "deleted", metav1.DeleteOptions{}))
	mustDelete(t, c.ServiceAccounts("gone").Delete(ctx(t), "recreated", metav1.DeleteOptions{}))
	if _, err := f.Hub.CreateServiceAccount(ctx(t), "gone", "recreated"); err != nil {
		t.Fatal(err)
	}
	mustDelete(t, c.Pods("gone").Delete(ctx(t), "pod", *metav1.NewDeleteOptions(0)))
	mustDelete(t, c.Secrets("gone").Delete(ctx(t), "secret", metav1.DeleteOptions{}))
	time.Sleep(time.Second) // the watch's delay, with a wide margin
	for name, token := range tokens {
		t.Run(name, func(t *testing.T) {
			want, err := f.Hub.TokenReview(ctx(t), token, nil)
			if err != nil {
				t.Fatal(err)
			}
			if want.Authenticated {
				t.Fatalf("the hub still accepts it")
			}
			compareWithHub(t, reviewVia(t, tokenfed, token, nil), *want)
		})
	}
	if got := metricSum(t, f.Tokenfed, `tokenfed_upstream_reviews_total{issuer="hub"`) - upstreamBefore; got != 0 {
		t.Errorf("got %v upstream reviews, want 0", got)
	}
}

// goneTokens creates namespace gone with the objects whose tokens it
// returns, by what will become of them.
func goneTokens(t *testing.T, hub *controlplane.ControlPlane) map[string]string {
	t.Helper()
	if _, err := hub.CreateNamespace(ctx(t), "gone"); err != nil {
		t.Fatal(err)
	}
	for _, sa := range []string{"deleted", "recreated"} {
		if _, err := hub.CreateServiceAccount(ctx(t), "gone", sa); err != nil {
			t.Fatal(err)
		}
	}
	pod, err := hub.CreatePod(ctx(t), "gone", "pod", "")
	if err != nil {
		t.Fatal(err)
	}
	secret, err := hub.Client.CoreV1().Secrets("gone").Create(ctx(t), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "secret"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"ServiceAccount deleted":   mintToken(t, hub, "gone", "deleted"),
		"ServiceAccount recreated": mintToken(t, hub, "gone", "recreated"),
		"bound Pod deleted":        requestToken(t, hub, "gone", "default", &authBoundRef{kind: "Pod", name: pod.Name, uid: string(pod.UID)}),
		"bound Secret deleted":     requestToken(t, hub, "gone", "default", &authBoundRef{kind: "Secret", name: secret.Name, uid: string(secret.UID)}),
	}
}
