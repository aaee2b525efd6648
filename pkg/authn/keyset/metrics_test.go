package keyset

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMetrics(t *testing.T) {
	srv := newJWKSServer(t, jwksDoc(t, publicJWK(testECKey(t), "ec1", "")))
	m := NewMetrics()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	ks, fc := remoteKeySet(t, srv, func(o *Options) {
		o.IssuerName = "hub"
		o.Metrics = m
	})
	refreshed := runKeySet(t, ks)
	_ = next(t, refreshed)
	srv.set(http.StatusBadGateway, nil, "")
	fc.Step(DefaultMinRefresh)
	_ = next(t, refreshed)
	fc.Step(30 * time.Second)

	want := []string{
		`tokenfed_keyset_age_seconds{issuer="hub"} 90`,
		`tokenfed_keyset_fetches_total{issuer="hub",result="error"} 1`,
		`tokenfed_keyset_fetches_total{issuer="hub",result="success"} 1`,
		`tokenfed_keyset_stale{issuer="hub"} 1`,
	}
	if got := gather(t, reg); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.fetched("x", nil)
	m.add(nil)
	m.remove(nil)
}

// gather renders every sample as `name{labels} value`, sorted.
func gather(t *testing.T, reg *prometheus.Registry) []string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			out = append(out, fmt.Sprintf("%s{%s} %g", f.GetName(), strings.Join(labels, ","), v))
		}
	}
	sort.Strings(out)
	return out
}
