package cache

import "github.com/prometheus/client_golang/prometheus"

// Metrics of the result cache. A nil *Metrics records nothing.
type Metrics struct {
	hits      prometheus.Counter
	misses    prometheus.Counter
	evictions prometheus.Counter
	waiters   prometheus.Counter
}

// NewMetrics registers the cache metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "tokenfed", Subsystem: "cache", Name: "lookups_total",
		Help: "Result cache lookups by result (hit or miss).",
	}, []string{"result"})
	m := &Metrics{
		// Resolved once: the hit path must not pay a label lookup.
		hits:   lookups.WithLabelValues("hit"),
		misses: lookups.WithLabelValues("miss"),
		evictions: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "tokenfed", Subsystem: "cache", Name: "evictions_total",
			Help: "Entries evicted to stay within maxEntries.",
		}),
		waiters: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "tokenfed", Subsystem: "cache", Name: "coalesced_total",
			Help: "Lookups that waited for an identical in-flight lookup instead of computing.",
		}),
	}
	reg.MustRegister(lookups, m.evictions, m.waiters)
	return m
}

func (m *Metrics) hit() {
	if m != nil {
		m.hits.Inc()
	}
}

func (m *Metrics) miss() {
	if m != nil {
		m.misses.Inc()
	}
}

func (m *Metrics) evicted() {
	if m != nil {
		m.evictions.Inc()
	}
}

func (m *Metrics) coalesced() {
	if m != nil {
		m.waiters.Inc()
	}
}
