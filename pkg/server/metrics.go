package server

import "github.com/prometheus/client_golang/prometheus"

// Metrics of the listener's bounds. A nil *Metrics records nothing.
type Metrics struct {
	connections prometheus.Gauge
	requests    prometheus.Gauge
	refusals    prometheus.Counter
	evictions   prometheus.Counter
}

// NewMetrics registers the server metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "tokenfed", Subsystem: "server", Name: "connections",
			Help: "Connections open now, HTTP/1 and HTTP/2 (bounded by server.maxConnections).",
		}),
		requests: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "tokenfed", Subsystem: "server", Name: "requests_in_flight",
			Help: "Requests being served now, health probes and /metrics not counted (bounded by server.maxRequestsInFlight).",
		}),
		refusals: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "tokenfed", Subsystem: "server", Name: "overload_refusals_total",
			Help: "Requests answered 503 because server.maxRequestsInFlight were in flight.",
		}),
		evictions: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "tokenfed", Subsystem: "server", Name: "idle_connection_evictions_total",
			Help: "Idle connections closed to accept a new one past server.maxConnections.",
		}),
	}
	reg.MustRegister(m.connections, m.requests, m.refusals, m.evictions)
	return m
}

func (m *Metrics) connectionDelta(d float64) {
	if m != nil {
		m.connections.Add(d)
	}
}

func (m *Metrics) inFlight(d float64) {
	if m != nil {
		m.requests.Add(d)
	}
}

func (m *Metrics) refused() {
	if m != nil {
		m.refusals.Inc()
	}
}

func (m *Metrics) evicted() {
	if m != nil {
		m.evictions.Inc()
	}
}
