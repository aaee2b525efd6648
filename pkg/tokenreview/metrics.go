package tokenreview

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts reviews. Labels are bounded: apiVersion, outcome and code;
// never a token or a user.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// resolved caches the children: label lookup hashes every label on
	// every call, a measurable share of a cached review.
	resolved sync.Map // record -> *resolvedMetrics
}

type resolvedMetrics struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

// NewMetrics registers the review metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tokenfed", Name: "tokenreview_requests_total",
			Help: "TokenReview requests by apiVersion, outcome and HTTP code.",
		}, []string{"api_version", "outcome", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "tokenfed", Name: "tokenreview_request_duration_seconds",
			Help:    "TokenReview request latency in seconds.",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
		}, []string{"api_version", "outcome"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

// record is what one request contributes to the metrics.
type record struct {
	apiVersion string
	outcome    string
	code       int
}

func (m *Metrics) observe(r *record, d time.Duration) {
	if m == nil {
		return
	}
	key := record{versionLabel(r.apiVersion), r.outcome, r.code}
	rm, ok := m.resolved.Load(key)
	if !ok {
		rm, _ = m.resolved.LoadOrStore(key, &resolvedMetrics{
			requests: m.requests.WithLabelValues(key.apiVersion, key.outcome, strconv.Itoa(key.code)),
			latency:  m.latency.WithLabelValues(key.apiVersion, key.outcome),
		})
	}
	rm.(*resolvedMetrics).requests.Inc()
	rm.(*resolvedMetrics).latency.Observe(d.Seconds())
}

// versionLabel keeps the label set bounded whatever a caller sends.
func versionLabel(apiVersion string) string {
	switch apiVersion {
	case V1:
		return "v1"
	case V1beta1:
		return "v1beta1"
	default:
		return "unknown"
	}
}
