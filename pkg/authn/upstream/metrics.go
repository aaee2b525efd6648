package upstream

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of upstream reviews, by issuer name only.
type Metrics struct {
	calls   *prometheus.CounterVec
	latency *prometheus.HistogramVec
	breaker *prometheus.GaugeVec

	// breakerOwners is the client whose breaker each issuer's series shows:
	// a hot reload can replace an issuer's client, and the series must go
	// with the client that set it (Close), not outlive it as an open
	// breaker that no longer exists.
	mu            sync.Mutex
	breakerOwners map[string]*Client
}

// NewMetrics registers the upstream metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tokenfed", Subsystem: "upstream", Name: "reviews_total",
			Help: "Upstream TokenReviews by issuer and result (authenticated, unauthenticated, error; and answered without a call: credential_refused, breaker_open, busy).",
		}, []string{"issuer", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "tokenfed", Subsystem: "upstream", Name: "review_duration_seconds",
			Help: "Latency of upstream TokenReviews that went out.", Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 10),
		}, []string{"issuer"}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "tokenfed", Subsystem: "upstream", Name: "breaker_state",
			Help: "Circuit breaker state per issuer: 0 closed, 1 open, 2 half-open.",
		}, []string{"issuer"}),
	}
	m.breakerOwners = map[string]*Client{}
	reg.MustRegister(m.calls, m.latency, m.breaker)
	return m
}

func (m *Metrics) call(issuer, result string, d time.Duration) {
	if m == nil {
		return
	}
	m.calls.WithLabelValues(issuer, result).Inc()
	if d > 0 {
		m.latency.WithLabelValues(issuer).Observe(d.Seconds())
	}
}

func (m *Metrics) breakerState(c *Client, st breakerState) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.breakerOwners[c.name] = c
	m.breaker.WithLabelValues(c.name).Set(float64(st))
}

// forget drops c's breaker series, unless a newer client of the same
// issuer has set it since.
func (m *Metrics) forget(c *Client) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.breakerOwners[c.name] == c {
		delete(m.breakerOwners, c.name)
		m.breaker.DeleteLabelValues(c.name)
	}
}
