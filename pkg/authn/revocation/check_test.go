package revocation

import (
	"strings"
	"testing"
	"time"
	"unique"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokenfed/tokenfed/pkg/authn/jwt"
)

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// testWatcher is a Watcher whose stores are filled by hand, synced and
// connected; secrets says whether Secrets are watched.
func testWatcher(t *testing.T, secrets bool, objs map[string][]*object) (*Watcher, *clocktesting.FakeClock) {
	t.Helper()
	clk := clocktesting.NewFakeClock(now)
	w := &Watcher{name: "hub", maxOutage: 10 * time.Second, clock: clk}
	res := func(name string) *resource {
		r := &resource{name: name, store: cache.NewStore(cache.DeletionHandlingMetaNamespaceKeyFunc), conn: &connection{clock: clk}}
		r.synced.Store(true)
		r.conn.set(true)
		for _, o := range objs[name] {
			if err := r.store.Add(o); err != nil {
				t.Fatal(err)
			}
		}
		return r
	}
	w.serviceAccounts, w.pods, w.nodes = res("serviceaccounts"), res("pods"), res("nodes")
	if secrets {
		w.secrets = res("secrets")
	}
	return w, clk
}

func obj(ns, name, uid string, deleted time.Duration) *object {
	o := &object{namespace: unique.Make(ns), name: name, uid: uid, rv: "1"}
	if deleted != 0 {
		o.deletionSeconds = now.Add(-deleted).Unix()
	}
	return o
}

func invalidated(o *object) *object {
	o.invalidated = true
	return o
}

func ref(name, uid string) jwt.ObjectRef { return jwt.ObjectRef{Name: name, UID: uid, Set: true} }

// TestCheck follows kube-apiserver's validator (pkg/serviceaccount/
// claims.go) case by case.
func TestCheck(t *testing.T) {
	objs := map[string][]*object{
		"serviceaccounts": {obj("ns", "app", "sa-1", 0), obj("ns", "leaving", "sa-2", 30*time.Second), obj("ns", "gone", "sa-3", 2*time.Minute)},
		"pods":            {obj("ns", "web", "pod-1", 0), obj("ns", "dying", "pod-2", 61*time.Second)},
		"nodes":           {obj("", "n1", "node-1", 0)},
		"secrets":         {obj("ns", "s", "secret-1", 0), invalidated(obj("ns", "marked", "secret-2", 0))},
	}
	old := now.Add(-time.Hour)
	sa := ref("app", "sa-1")
	cases := []struct {
		name    string
		refs    jwt.Refs
		secrets bool
		want    Verdict
		wantErr string
	}{
		{"plain token", jwt.Refs{Namespace: "ns", ServiceAccount: sa, IssuedAt: old}, false, Valid, ""},
		{"deleted ServiceAccount", jwt.Refs{Namespace: "ns", ServiceAccount: ref("nobody", "x"), IssuedAt: old}, false, Revoked, `serviceaccounts "nobody" not found`},
		{"recreated ServiceAccount", jwt.Refs{Namespace: "ns", ServiceAccount: ref("app", "sa-0"), IssuedAt: old}, false, Revoked, "service account UID (sa-1) does not match claim (sa-0)"},
		{"ServiceAccount deleting for 30s: within the leeway", jwt.Refs{Namespace: "ns", ServiceAccount: ref("leaving", "sa-2"), IssuedAt: old}, false, Valid, ""},
		{"ServiceAccount deleting for 2m", jwt.Refs{Namespace: "ns", ServiceAccount: ref("gone", "sa-3"), IssuedAt: old}, false, Revoked, "service account ns/gone has been deleted"},
		{"other namespace", jwt.Refs{Namespace: "other", ServiceAccount: sa, IssuedAt: old}, false, Revoked, "not found"},
		{"pod-bound", jwt.Refs{Namespace: "ns", ServiceAccount: sa, Pod: ref("web", "pod-1"), IssuedAt: old}, false, Valid, ""},
		{"pod-bound, pod gone", jwt.Refs{Namespace: "ns", ServiceAccount: sa, Pod: ref("api", "pod-9"), IssuedAt: old}, false, Revoked, "service account token has been invalidated"},
		{"pod-bound, pod recreated", jwt.Refs{Namespace: "ns", ServiceAccount: sa, Pod: ref("web", "pod-0"), IssuedAt: old}, false, Revoked, "pod UID (pod-1) does not match service account pod ref claim (pod-0)"},
		{"pod-bound, pod deleting for 61s", jwt.Refs{Namespace: "ns", ServiceAccount: sa, Pod: ref("dying", "pod-2"), IssuedAt: old}, false, Revoked, "invalidated"},
		{"pod-bound with a node claim: only the pod counts", jwt.Refs{Namespace: "ns", ServiceAccount: sa, Pod: ref("web", "pod-1"), Node: ref("gone-node", "x"), IssuedAt: old}, false, Valid, ""},
		{"node-bound", jwt.Refs{Namespace: "ns", ServiceAccount: sa, Node: ref("n1", "node-1"), IssuedAt: old}, false, Valid, ""},
		{"node-bound, node gone", jwt.Refs{Namespace: "ns", ServiceAccount: sa, Node: ref("n2", "node-2"), IssuedAt: old}, false, Revoked, "invalidated"},
		{"node-bound, node recreated", jwt.Refs{Namespace: "ns", ServiceAccount: sa, Node: ref("n1", "node-0"), IssuedAt: old}, false, Revoked, "node UID (node-1) does not match service account node ref claim (node-0)"},
		{"secret-bound, secrets not watched", jwt.Refs{Namespace: "ns", ServiceAccount: sa, Secret: ref("s", "secret-1"), IssuedAt: old}, false, Unknown, "secrets are not watched"},
		{"secret-bound", jwt.Refs{Namespace: "ns", ServiceAccount: sa, Secret: ref("s", "secret-1"), IssuedAt: old}, true, Valid, ""},
		{"secret-bound, secret recreated", jwt.Refs{Namespace: "ns", ServiceAccount: sa, Secret: ref("s", "secret-0"), IssuedAt: old}, true, Revoked, "secret UID (secret-1) does not match service account secret ref claim (secret-0)"},
		{"ServiceAccount checked before the pod", jwt.Refs{Namespace: "ns", ServiceAccount: ref("nobody", "x"), Pod: ref("api", "pod-9"), IssuedAt: old}, false, Revoked, "serviceaccounts"},
		{"a pod claim without a name", jwt.Refs{Namespace: "ns", ServiceAccount: sa, Pod: ref("", ""), IssuedAt: old}, false, Revoked, "invalidated"},
		{"fresh token, object not seen yet", jwt.Refs{Namespace: "ns", ServiceAccount: ref("new", "sa-9"), IssuedAt: now.Add(-FreshToken + time.Second)}, false, Unknown, "not seen yet"},
		{"fresh token, other UID", jwt.Refs{Namespace: "ns", ServiceAccount: ref("app", "sa-9"), IssuedAt: now.Add(-time.Second)}, false, Unknown, "not seen yet"},
		{"fresh token, deleted object: the leeway still applies", jwt.Refs{Namespace: "ns", ServiceAccount: ref("gone", "sa-3"), IssuedAt: now}, false, Revoked, "has been deleted"},
		{"secret-bound, secrets not watched, ServiceAccount gone: revoked", jwt.Refs{Namespace: "ns", ServiceAccount: ref("nobody", "x"), Secret: ref("s", "secret-1"), IssuedAt: old}, false, Revoked, "not found"},
		{"legacy: the Secret by name", jwt.Refs{Namespace: "ns", ServiceAccount: sa, Secret: ref("s", ""), Legacy: true, IssuedAt: old}, true, Valid, ""},
		{"legacy: Secret gone", jwt.Refs{Namespace: "ns", ServiceAccount: sa, Secret: ref("t", ""), Legacy: true, IssuedAt: old}, true, Revoked, "invalidated"},
		{"legacy: no leeway after a deletion", jwt.Refs{Namespace: "ns", ServiceAccount: ref("leaving", "sa-2"), Secret: ref("s", ""), Legacy: true, IssuedAt: old}, true, Revoked, "has been deleted"},
		{"legacy, secrets not watched, ServiceAccount recreated: revoked", jwt.Refs{Namespace: "ns", ServiceAccount: ref("app", "sa-0"), Secret: ref("s", ""), Legacy: true, IssuedAt: old}, false, Revoked, "does not match"},
		{"legacy: Secret marked invalid", jwt.Refs{Namespace: "ns", ServiceAccount: sa, Secret: ref("marked", ""), Legacy: true, IssuedAt: old}, true, Revoked, "marked invalid"},
		{"secret-bound: the invalid-since label is for legacy tokens only", jwt.Refs{Namespace: "ns", ServiceAccount: sa, Secret: ref("marked", "secret-2"), IssuedAt: old}, true, Valid, ""},
		{"legacy, secrets not watched", jwt.Refs{Namespace: "ns", ServiceAccount: sa, Secret: ref("s", ""), Legacy: true, IssuedAt: old}, false, Unknown, "secrets are not watched"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := testWatcher(t, tc.secrets, objs)
			got, err := w.Check(NewToken(tc.refs))
			if got != tc.want || (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("got %s (%v), want %s (%q)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestCheckVouching: before its first sync, and once its watch has been
// broken longer than the maximum outage, a resource decides nothing.
func TestCheckVouching(t *testing.T) {
	objs := map[string][]*object{"serviceaccounts": {obj("ns", "app", "sa-1", 0)}}
	refs := NewToken(jwt.Refs{Namespace: "ns", ServiceAccount: ref("app", "sa-1"), IssuedAt: now.Add(-time.Hour)})

	w, _ := testWatcher(t, false, objs)
	w.serviceAccounts.synced.Store(false)
	if v, err := w.Check(refs); v != Unknown || !strings.Contains(err.Error(), "not synced") {
		t.Fatalf("not synced: got %s (%v), want unknown", v, err)
	}

	w, clk := testWatcher(t, false, objs)
	w.serviceAccounts.conn.markDown()
	clk.Step(w.maxOutage)
	if v, err := w.Check(refs); v != Valid {
		t.Fatalf("broken for the maximum outage: got %s (%v), want valid", v, err)
	}
	clk.Step(time.Millisecond)
	if v, err := w.Check(refs); v != Unknown || !strings.Contains(err.Error(), "watch of serviceaccounts of hub broken for 10s") {
		t.Fatalf("broken longer: got %s (%v), want unknown", v, err)
	}
	w.serviceAccounts.conn.set(true)
	if v, err := w.Check(refs); v != Valid {
		t.Fatalf("reconnected: got %s (%v), want valid", v, err)
	}
	// Only the resources a token references matter.
	w.pods.synced.Store(false)
	if v, err := w.Check(refs); v != Valid {
		t.Fatalf("pods not synced, plain token: got %s (%v), want valid", v, err)
	}
}

// TestCompact: the transform keeps what the check reads and nothing else,
// and is idempotent.
func TestCompact(t *testing.T) {
	deleted := metav1.NewTime(now)
	in := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Namespace: "ns", Name: "web", UID: "u", ResourceVersion: "7", DeletionTimestamp: &deleted,
		Labels: map[string]string{"a": "b", InvalidSinceLabel: "2026-01-01"}, Annotations: map[string]string{"c": "d"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "m"}},
	}}
	out, err := compact(in)
	if err != nil {
		t.Fatal(err)
	}
	o := out.(*object)
	if o.namespace.Value() != "ns" || o.name != "web" || o.uid != "u" || o.rv != "7" || o.deletionSeconds != now.Unix() || !o.invalidated {
		t.Fatalf("got %+v", o)
	}
	if again, _ := compact(o); again != o {
		t.Fatalf("compact of a compacted object changed it")
	}
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(o)
	if err != nil || key != "ns/web" {
		t.Fatalf("store key: got %q, %v; want ns/web", key, err)
	}
}
