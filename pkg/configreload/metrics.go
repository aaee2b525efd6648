package configreload

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	successful  prometheus.Gauge
	successTime prometheus.Gauge
	reloads     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		successful: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "tokenfed", Subsystem: "config", Name: "last_reload_successful",
			Help: "1 when the configuration file's content is the one in force, 0 when its last content was refused.",
		}),
		successTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "tokenfed", Subsystem: "config", Name: "last_reload_success_timestamp_seconds",
			Help: "Unix time the configuration in force was loaded (at start or by a reload).",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tokenfed", Subsystem: "config", Name: "reloads_total",
			Help: "Reloads of a changed configuration file, by result (success or failure).",
		}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.successful, m.successTime, m.reloads)
	}
	return m
}

// succeeded records a configuration in force; counted says it was a reload.
func (m *metrics) succeeded(at time.Time, counted bool) {
	m.successful.Set(1)
	m.successTime.Set(float64(at.Unix()))
	if counted {
		m.reloads.WithLabelValues("success").Inc()
	}
}

func (m *metrics) failed() {
	m.successful.Set(0)
	m.reloads.WithLabelValues("failure").Inc()
}
