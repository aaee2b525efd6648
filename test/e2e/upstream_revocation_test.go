package e2e

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
)

// revocationMargin covers what a revocation bound cannot: the hub's
// informer seeing the deletion, the poll interval and a loaded machine.
const revocationMargin = 2 * time.Second

const pollInterval = 100 * time.Millisecond

// TestUpstreamDeletedServiceAccount: deleting a ServiceAccount revokes its
// tokens in its cluster. Under `always` tokenfed asks, and rejects them;
// under `never` it cannot know, and keeps accepting them, verified locally,
// until their exp (1h here). That is the price of never calling the
// cluster: use short-lived tokens, or a policy that asks.
//
// `always` accepts a sibling token before the deletion and sees the token
// under test only after it, so that neither tokenfed's result cache nor the
// hub's own token cache (10s) holds an answer from before the deletion;
// TestUpstreamWhenBoundPodDeletion measures what those caches add.
func TestUpstreamDeletedServiceAccount(t *testing.T) {
	hub := startUpstreamHub(t)
	const ns, sa = "gone", "temp"
	if _, err := hub.CreateNamespace(ctx(t), ns); err != nil {
		t.Fatal(err)
	}
	if _, err := hub.CreateServiceAccount(ctx(t), ns, sa); err != nil {
		t.Fatal(err)
	}
	token, sibling := mintToken(t, hub, ns, sa), mintToken(t, hub, ns, sa)
	const successTTL = time.Second
	start := func(name string, policy v1alpha1.UpstreamPolicy) kubernetes.Interface {
		return tokenfedClient(t, startUpstreamTokenfed(t, name, v1alpha1.Configuration{
			Cache:   v1alpha1.Cache{SuccessTTL: metav1.Duration{Duration: successTTL}},
			Issuers: []v1alpha1.Issuer{hubWithUpstream(hub, policy, hub.Kubeconfig)},
		}))
	}
	always, never := start("always", v1alpha1.UpstreamAlways), start("never", v1alpha1.UpstreamNever)
	want := "hub:system:serviceaccount:" + ns + ":" + sa
	wantUser(t, mustReview(t, always, sibling, "always, before deletion"), want, "always, before deletion")
	wantUser(t, mustReview(t, never, token, "never, before deletion"), want, "never, before deletion")
	neverReviewed := time.Now()

	if err := hub.Client.CoreV1().ServiceAccounts(ns).Delete(ctx(t), sa, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Polled only because the hub's informer may not have seen the
	// deletion yet; the first answer is normally the rejection.
	elapsed, reason := pollUntilRejected(t, always, token, hubTokenCacheTTL+successTTL+revocationMargin)
	t.Logf("always: rejected %s after the ServiceAccount was deleted (%q)", elapsed.Round(time.Millisecond), reason)

	// Past never's success TTL, so this is a new local verification, not
	// the cached answer from before the deletion.
	time.Sleep(time.Until(neverReviewed.Add(successTTL + 100*time.Millisecond)))
	wantUser(t, mustReview(t, never, token, "never, after deletion"), want, "never, after deletion (accepted until exp)")
}

func mintToken(t *testing.T, hub *controlplane.ControlPlane, ns, sa string) string {
	t.Helper()
	token, err := hub.CreateToken(ctx(t), ns, sa, controlplane.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// TestUpstreamWhenBoundPodDeletion: under whenBound, a pod-bound token is
// confirmed by the hub (an unbound one is not: it costs no upstream call),
// and once the pod is deleted tokenfed rejects the token at most one
// success TTL after the hub itself does.
func TestUpstreamWhenBoundPodDeletion(t *testing.T) {
	hub := startUpstreamHub(t)
	const ns, podName = "apps", "web"
	if _, err := hub.CreateNamespace(ctx(t), ns); err != nil {
		t.Fatal(err)
	}
	pod, err := hub.CreatePod(ctx(t), ns, podName, "")
	if err != nil {
		t.Fatal(err)
	}
	bound, err := hub.CreateToken(ctx(t), ns, "default", controlplane.TokenOptions{BoundPod: &controlplane.BoundObject{Name: pod.Name, UID: pod.UID}})
	if err != nil {
		t.Fatal(err)
	}
	unbound := mintToken(t, hub, ns, "default")
	proxy := startCountingProxy(t, hub)
	const successTTL = 2 * time.Second
	tf := tokenfedClient(t, startUpstreamTokenfed(t, "whenbound", v1alpha1.Configuration{
		Cache:   v1alpha1.Cache{SuccessTTL: metav1.Duration{Duration: successTTL}},
		Issuers: []v1alpha1.Issuer{hubWithUpstream(hub, v1alpha1.UpstreamWhenBound, proxy.Kubeconfig)},
	}))

	want := "hub:system:serviceaccount:" + ns + ":default"
	wantUser(t, mustReview(t, tf, unbound, "unbound token"), want, "unbound token")
	if got := proxy.Reviews(); got != 0 {
		t.Fatalf("unbound token: got %d upstream reviews, want 0", got)
	}
	st := mustReview(t, tf, bound, "pod-bound token")
	wantUser(t, st, want, "pod-bound token")
	if got := st.User.Extra["authentication.kubernetes.io/pod-name"]; !slices.Equal(got, []string{podName}) {
		t.Fatalf("pod-bound token: got pod-name extra %q, want [%s]", got, podName)
	}
	if got := proxy.Reviews(); got != 1 {
		t.Fatalf("pod-bound token: got %d upstream reviews, want 1", got)
	}

	deleted := time.Now()
	if err := hub.Client.CoreV1().Pods(ns).Delete(ctx(t), podName, *metav1.NewDeleteOptions(0)); err != nil {
		t.Fatal(err)
	}
	hubRevoked, tfRevoked := pollRevocation(t, hub, tf, bound, deleted, hubTokenCacheTTL+successTTL+revocationMargin)
	t.Logf("pod deleted: hub rejects after %s, tokenfed after %s (success TTL %s, hub token cache %s, %d upstream reviews)",
		hubRevoked.Round(time.Millisecond), tfRevoked.Round(time.Millisecond), successTTL, hubTokenCacheTTL, proxy.Reviews())
	if lag := tfRevoked - hubRevoked; lag > successTTL+pollInterval+time.Second {
		t.Fatalf("tokenfed rejected %s after the hub, want at most the success TTL %s (+ margin)", lag, successTTL)
	}
}

// pollUntilRejected reviews token until tokenfed rejects it and returns how
// long that took and why; it fails the test after limit.
func pollUntilRejected(t *testing.T, c kubernetes.Interface, token string, limit time.Duration) (time.Duration, string) {
	t.Helper()
	start := time.Now()
	for {
		st := mustReview(t, c, token, "polling for rejection")
		if !st.Authenticated {
			return time.Since(start), st.Error
		}
		if time.Since(start) > limit {
			t.Fatalf("token still accepted %s later, want rejected within %s", time.Since(start), limit)
		}
		time.Sleep(pollInterval)
	}
}

// pollRevocation polls the hub (with tokenfed's upstream audiences, so
// through the same hub cache entry tokenfed's calls hit) and tokenfed until
// both reject token, and returns when each first did, counted from since.
func pollRevocation(t *testing.T, hub *controlplane.ControlPlane, tf kubernetes.Interface, token string, since time.Time, limit time.Duration) (hubAt, tfAt time.Duration) {
	t.Helper()
	for hubAt == 0 || tfAt == 0 {
		if hubAt == 0 && !hubReview(t, hub, token).Authenticated {
			hubAt = time.Since(since)
		}
		if st := mustReview(t, tf, token, "polling for rejection"); tfAt == 0 && !st.Authenticated {
			tfAt = time.Since(since)
			t.Logf("tokenfed: %q", st.Error)
		}
		if time.Since(since) > limit {
			t.Fatalf("after %s: hub rejected after %s, tokenfed after %s (0: not yet); want both within %s", time.Since(since), hubAt, tfAt, limit)
		}
		time.Sleep(pollInterval)
	}
	return hubAt, tfAt
}
