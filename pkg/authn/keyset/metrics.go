package keyset

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics collects key-set metrics. Create one with NewMetrics, register it
// with any prometheus.Registerer, and pass it in Options.Metrics. Labels carry
// issuer names from configuration only, never token data.
//
// Age and staleness are computed at scrape time from each running key set's
// Status, so they cannot lag behind. One key set per issuer name is
// reported, the one that started running last: a hot reload that changes an
// issuer runs the new key set before it stops the old one, and a registry
// refuses two series with the same labels.
type Metrics struct {
	fetches *prometheus.CounterVec
	age     *prometheus.Desc
	stale   *prometheus.Desc
	dropped *prometheus.Desc

	mu   sync.Mutex
	sets map[string]*KeySet
}

var _ prometheus.Collector = (*Metrics)(nil)

// NewMetrics returns an unregistered collector.
func NewMetrics() *Metrics {
	return &Metrics{
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenfed_keyset_fetches_total",
			Help: "Key set loads by issuer and result (success or error).",
		}, []string{"issuer", "result"}),
		age: prometheus.NewDesc("tokenfed_keyset_age_seconds",
			"Seconds since the issuer's keys were last loaded.", []string{"issuer"}, nil),
		stale: prometheus.NewDesc("tokenfed_keyset_stale",
			"1 when the last fetch failed and older keys are still served.", []string{"issuer"}, nil),
		dropped: prometheus.NewDesc("tokenfed_keyset_dropped_keys",
			"Keys of the last document read that were refused, by reason. "+
				"When no key is left the fetch fails; readiness details name each key.",
			[]string{"issuer", "reason"}, nil),
		sets: map[string]*KeySet{},
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.fetches.Describe(ch)
	ch <- m.age
	ch <- m.stale
	ch <- m.dropped
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.fetches.Collect(ch)
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, k := range m.sets {
		st := k.Status()
		if !st.LastSuccess.IsZero() {
			ch <- prometheus.MustNewConstMetric(m.age, prometheus.GaugeValue, st.Age.Seconds(), name)
		}
		ch <- prometheus.MustNewConstMetric(m.stale, prometheus.GaugeValue, boolValue(st.Stale), name)
		for reason, n := range k.droppedCounts() {
			ch <- prometheus.MustNewConstMetric(m.dropped, prometheus.GaugeValue, float64(n), name, reason)
		}
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// The methods below accept a nil receiver, so a key set without metrics
// needs no checks.

func (m *Metrics) fetched(issuer string, err error) {
	if m == nil {
		return
	}
	result := "success"
	if err != nil {
		result = "error"
	}
	m.fetches.WithLabelValues(issuer, result).Inc()
}

func (m *Metrics) add(k *KeySet) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sets[k.opts.IssuerName] = k
}

func (m *Metrics) remove(k *KeySet) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sets[k.opts.IssuerName] == k {
		delete(m.sets, k.opts.IssuerName)
	}
}
