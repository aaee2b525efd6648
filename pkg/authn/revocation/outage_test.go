package revocation

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
)

// TestWatchOutageObjectsCreatedMeanwhileAreUnknown: while a resource's
// watch is broken (for less than maxWatchOutage, so its objects still
// decide tokens), the watch cannot have seen objects created since it
// broke. A token of a ServiceAccount created, or deleted and recreated,
// during the outage is valid in the cluster: the watch must not call it
// revoked (a rejection that is also cached) once it is older than
// FreshToken, but leave it to the fallback. A ServiceAccount the watch saw
// deleted before the outage still revokes its tokens.
func TestWatchOutageObjectsCreatedMeanwhileAreUnknown(t *testing.T) {
	hub := controlplane.StartT(t, controlplane.Options{Name: "hub"})
	const ns = "outage"
	if _, err := hub.CreateNamespace(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"recreated", "gone"} {
		if _, err := hub.CreateServiceAccount(t.Context(), ns, name); err != nil {
			t.Fatal(err)
		}
	}
	w, proxy := startHubWatcher(t, hub, time.Hour)

	gone := saToken(t, hub, ns, "gone")
	if err := hub.Client.CoreV1().ServiceAccounts(ns).Delete(t.Context(), "gone", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the watch to see the deletion", 10*time.Second, func() bool {
		v, _ := w.Check(gone)
		return v != Valid
	})
	sleepUntilOld(gone.refs.IssuedAt)

	proxy.setCut(true)
	waitFor(t, "the watch to break", 30*time.Second, func() bool { return !watchUp(w, "serviceaccounts") })

	if _, err := hub.CreateServiceAccount(t.Context(), ns, "created"); err != nil {
		t.Fatal(err)
	}
	created := saToken(t, hub, ns, "created")
	if err := hub.Client.CoreV1().ServiceAccounts(ns).Delete(t.Context(), "recreated", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := hub.CreateServiceAccount(t.Context(), ns, "recreated"); err != nil {
		t.Fatal(err)
	}
	recreated := saToken(t, hub, ns, "recreated")
	sleepUntilOld(recreated.refs.IssuedAt)

	for name, tok := range map[string]*Token{"created during the outage": created, "recreated during the outage": recreated} {
		if v, err := w.Check(tok); v != Unknown {
			t.Errorf("%s, checked %s after it was issued: got %s (%v), want unknown", name, time.Since(tok.refs.IssuedAt).Round(time.Second), v, err)
		}
	}
	if v, err := w.Check(gone); v != Revoked {
		t.Errorf("deleted before the outage: got %s (%v), want revoked", v, err)
	}

	proxy.setCut(false)
	waitFor(t, "the watch to see the new ServiceAccounts", 60*time.Second, func() bool {
		v1, _ := w.Check(created)
		v2, _ := w.Check(recreated)
		return v1 == Valid && v2 == Valid
	})
}

// TestWatchStalledBehindProxyStopsVouching: between tokenfed and the
// cluster, an HTTP/2 proxy (a load balancer, an API gateway) answers
// HTTP/2 pings itself, so client-go's health check never closes a watch
// whose stream the proxy has stopped forwarding, and the proxy accepts new
// watches as well. The watch still looks up; meanwhile a ServiceAccount is
// deleted, and kube-apiserver rejects its tokens. kube-apiserver sends
// every watch a bookmark about once a minute, so a watch that delivered
// nothing for longer has stalled: it must count as broken since its last
// event, re-established or not, so that maxWatchOutage applies, rather
// than vouch for deleted objects for as long as the stall lasts.
// progressTimeout is shortened here, so the test does not wait minutes,
// and a ServiceAccount is updated every 300 ms, so the watch is never
// silent that long unless the proxy stalls it.
func TestWatchStalledBehindProxyStopsVouching(t *testing.T) {
	const progressTimeout, maxOutage = 3 * time.Second, 2 * time.Second

	hub := controlplane.StartT(t, controlplane.Options{Name: "hub"})
	const ns = "stall"
	if _, err := hub.CreateNamespace(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"app", "ticker"} {
		if _, err := hub.CreateServiceAccount(t.Context(), ns, name); err != nil {
			t.Fatal(err)
		}
	}
	go func() {
		for i := 0; t.Context().Err() == nil; i++ {
			patch := fmt.Sprintf(`{"metadata":{"annotations":{"tick":"%d"}}}`, i)
			_, _ = hub.Client.CoreV1().ServiceAccounts(ns).Patch(t.Context(), "ticker", types.MergePatchType, []byte(patch), metav1.PatchOptions{})
			time.Sleep(300 * time.Millisecond)
		}
	}()
	proxy := startStallProxy(t, hub)
	w, err := New(Options{IssuerName: "hub", Config: proxy.config(), MaxWatchOutage: maxOutage, progressTimeout: progressTimeout})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the watch to sync", 30*time.Second, w.Synced)
	tok := saToken(t, hub, ns, "app")
	sleepUntilOld(tok.refs.IssuedAt)
	waitFor(t, "the token to be valid before the stall", 10*time.Second, func() bool {
		v, _ := w.Check(tok)
		return v == Valid
	})

	proxy.stall(true)
	if err := hub.Client.CoreV1().ServiceAccounts(ns).Delete(t.Context(), "app", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// From the stall, the watch is silent; progressTimeout later it has
	// stalled, maxWatchOutage after its last event it no longer vouches,
	// and it must not again for as long as the stall lasts.
	stalled := time.Now()
	time.Sleep(progressTimeout + time.Second)
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if v, _ := w.Check(tok); v == Valid {
			t.Fatalf("the deleted ServiceAccount's token is valid %s into the stall (watch up: %v), want the fallback", time.Since(stalled).Round(100*time.Millisecond), watchUp(w, "serviceaccounts"))
		}
	}

	proxy.stall(false)
	waitFor(t, "the watch to see the deletion", 60*time.Second, func() bool {
		v, _ := w.Check(tok)
		return v == Revoked
	})
}
