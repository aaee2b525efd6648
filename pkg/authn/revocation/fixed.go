package revocation

import (
	"math"

	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

// FixedObject is one object of a fixed Watcher.
type FixedObject struct {
	// Resource is serviceaccounts, pods, nodes or secrets.
	Resource string
	// Namespace is empty for nodes.
	Namespace, Name, UID string
}

// NewFixed returns a Watcher over fixed objects, synced, with its watches
// up, that makes no request and needs no Run: for tests and benchmarks of
// what uses a Watcher. Secrets says whether secrets count as watched.
func NewFixed(issuer string, secrets bool, objs ...FixedObject) *Watcher {
	clk := clock.RealClock{}
	// Its watches never break.
	w := &Watcher{name: issuer, maxOutage: math.MaxInt64, clock: clk}
	res := func(name string) *resource {
		r := &resource{name: name, store: cache.NewStore(cache.DeletionHandlingMetaNamespaceKeyFunc), conn: &connection{clock: clk}}
		r.synced.Store(true)
		r.conn.set(true)
		for _, o := range objs {
			if o.Resource == name {
				obj := &object{namespace: internNamespace(o.Namespace), name: o.Name, uid: o.UID, rv: "1"}
				_ = r.store.Add(obj) // a store keyed by namespace/name never fails to add
			}
		}
		return r
	}
	w.serviceAccounts, w.pods, w.nodes = res("serviceaccounts"), res("pods"), res("nodes")
	if secrets {
		w.secrets = res("secrets")
	}
	return w
}

// Forget removes an object from a fixed Watcher, as a delete event would.
func (w *Watcher) Forget(resource, namespace, name string) {
	for _, r := range w.resources() {
		if r.name != resource {
			continue
		}
		key := name
		if namespace != "" {
			key = namespace + "/" + name
		}
		if item, ok, _ := r.store.GetByKey(key); ok {
			_ = r.store.Delete(item) // a store keyed by namespace/name never fails to delete
		}
	}
}
