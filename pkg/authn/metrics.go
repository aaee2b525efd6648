package authn

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics count chain outcomes and time verifications, by issuer; never
// by token or user.
type Metrics struct {
	outcomes *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewMetrics registers the chain metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tokenfed", Name: "authentications_total",
			Help: "Uncached authentications by issuer and outcome (authenticated, rejected, unavailable, loop).",
		}, []string{"issuer", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "tokenfed", Name: "verification_duration_seconds",
			Help:    "Time to decide an uncached token of an issuer: local verification, plus the upstream review when the policy asks for one.",
			Buckets: []float64{0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.025, 0.1, 0.5, 2.5},
		}, []string{"issuer"}),
	}
	reg.MustRegister(m.outcomes, m.latency)
	return m
}

func (m *Metrics) outcome(issuer, outcome string) {
	m.outcomes.WithLabelValues(issuer, outcome).Inc()
}

func (m *Metrics) verified(issuer string, d time.Duration) {
	m.latency.WithLabelValues(issuer).Observe(d.Seconds())
}
