package callers

import "github.com/prometheus/client_golang/prometheus"

// Metrics count caller decisions by policy and outcome. The policy label is
// a configured policy name, "any", "delegated" or "none", so its
// cardinality is bounded by the configuration, never by callers.
type Metrics struct {
	decisions *prometheus.CounterVec
}

// NewMetrics registers the caller metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tokenfed_caller_decisions_total",
		Help: "Caller decisions by policy and outcome (allowed, unauthenticated, forbidden, throttled, issuer_denied, audience_denied).",
	}, []string{"policy", "outcome"})}
	reg.MustRegister(m.decisions)
	return m
}

func (m *Metrics) decision(policy, outcome string) {
	m.decisions.WithLabelValues(policy, outcome).Inc()
}
