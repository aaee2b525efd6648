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

// decision counts a decision that is not made per review of an admitted
// caller (401, 403): rare enough to look its counter up.
func (m *Metrics) decision(policy, outcome string) {
	m.decisions.WithLabelValues(policy, outcome).Inc()
}

// policyCounters are the per-review counters of one policy, looked up once
// when the policy is built: WithLabelValues would hash and check both
// label values on every review. The policy's series start at zero.
type policyCounters struct {
	allowed, throttled, issuerDenied, audienceDenied prometheus.Counter
}

func (m *Metrics) forPolicy(policy string) *policyCounters {
	return &policyCounters{
		allowed:        m.decisions.WithLabelValues(policy, OutcomeAllowed),
		throttled:      m.decisions.WithLabelValues(policy, OutcomeThrottled),
		issuerDenied:   m.decisions.WithLabelValues(policy, OutcomeIssuerDenied),
		audienceDenied: m.decisions.WithLabelValues(policy, OutcomeAudienceDenied),
	}
}

// denied is the counter of a per-review refusal.
func (c *policyCounters) denied(outcome string) prometheus.Counter {
	if outcome == OutcomeAudienceDenied {
		return c.audienceDenied
	}
	return c.issuerDenied
}
