package revocation

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
