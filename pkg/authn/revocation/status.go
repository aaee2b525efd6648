package revocation

import (
	"time"
)

// ResourceStatus is one watched resource's state, for readiness and
// metrics.
type ResourceStatus struct {
	// Resource is serviceaccounts, pods, nodes or secrets.
	Resource string
	// Err says why its objects do not decide tokens now; nil when they do.
	Err error
	// Objects is how many it holds.
	Objects int
	// Up says a watch is established; For is how long it has been up, or
	// down.
	Up  bool
	For time.Duration
}

// Status is every watched resource's state, for probes and scrapes: its
// object counts are at most a second old (see countEvery), so anyone may
// call it as often as they like.
func (w *Watcher) Status() []ResourceStatus {
	now := w.clock.Now()
	var out []ResourceStatus
	for _, r := range w.resources() {
		up, d := r.conn.state(now)
		out = append(out, ResourceStatus{Resource: r.name, Err: w.vouches(r, now), Objects: r.objects(now), Up: up, For: d})
	}
	return out
}

// Name is the issuer's.
func (w *Watcher) Name() string { return w.name }

// Record counts a verdict reached on a cache miss in the metrics.
func (w *Watcher) Record(v Verdict) { w.metrics.checked(w.name, v) }
