package authn

import "github.com/prometheus/client_golang/prometheus"

// Metrics count chain outcomes by issuer; never by token or user.
type Metrics struct {
	outcomes *prometheus.CounterVec
}

// NewMetrics registers the chain metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "tokenfed", Name: "authentications_total",
		Help: "Uncached authentications by issuer and outcome (authenticated, invalid, denied, rejected before verification).",
	}, []string{"issuer", "outcome"})}
	reg.MustRegister(m.outcomes)
	return m
}

func (m *Metrics) outcome(issuer, outcome string) {
	m.outcomes.WithLabelValues(issuer, outcome).Inc()
}
