package revocation

import (
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are every running Watcher's, by issuer and resource; register
// them once per process. Gauges are read at scrape time.
type Metrics struct {
	checks                            *prometheus.CounterVec
	synced, objects, watchAge, outage *prometheus.Desc

	mu sync.Mutex
	// watchers are the running ones, oldest first. During a reload the
	// old and new watcher of an issuer both run for a moment; the newest
	// is reported.
	watchers []*Watcher
}

// NewMetrics registers the revocation metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	labels := []string{"issuer", "resource"}
	m := &Metrics{
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tokenfed", Subsystem: "revocation", Name: "checks_total",
			Help: "Revocation checks of locally verified tokens on a cache miss, by issuer and verdict (valid, revoked, unknown: the fallback decided).",
		}, []string{"issuer", "verdict"}),
		synced: prometheus.NewDesc("tokenfed_revocation_synced",
			"1 while the resource's watched objects decide tokens: synced, and the watch up or broken for at most maxWatchOutage.", labels, nil),
		objects: prometheus.NewDesc("tokenfed_revocation_objects",
			"Objects of the resource the watch holds.", labels, nil),
		watchAge: prometheus.NewDesc("tokenfed_revocation_watch_age_seconds",
			"Seconds since the resource's current watch was established; 0 while it is broken.", labels, nil),
		outage: prometheus.NewDesc("tokenfed_revocation_watch_outage_seconds",
			"Seconds the resource's watch has been broken (or not yet established); 0 while it is up.", labels, nil),
	}
	reg.MustRegister(m.checks, m)
	return m
}

func (m *Metrics) add(w *Watcher) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.watchers = append(m.watchers, w)
}

func (m *Metrics) remove(w *Watcher) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.watchers = slices.DeleteFunc(m.watchers, func(x *Watcher) bool { return x == w })
}

func (m *Metrics) checked(issuer string, v Verdict) {
	if m != nil {
		m.checks.WithLabelValues(issuer, v.String()).Inc()
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.synced, m.objects, m.watchAge, m.outage} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	watchers := slices.Clone(m.watchers)
	m.mu.Unlock()
	seen := map[string]bool{}
	for _, w := range slices.Backward(watchers) {
		if seen[w.name] {
			continue
		}
		seen[w.name] = true
		for _, st := range w.Status() {
			gauge := func(d *prometheus.Desc, v float64) {
				ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, w.name, st.Resource)
			}
			gauge(m.synced, boolValue(st.Err == nil))
			gauge(m.objects, float64(st.Objects))
			age, outage := st.For.Seconds(), 0.0
			if !st.Up {
				age, outage = 0, st.For.Seconds()
			}
			gauge(m.watchAge, age)
			gauge(m.outage, outage)
		}
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
