package server

import (
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/apiserver/pkg/server/healthz"

	"github.com/tokenfed/tokenfed/pkg/callers"
	"github.com/tokenfed/tokenfed/pkg/tokenreview"
)

// Review paths. The first two are kube-apiserver's own, so client-go pointed
// at tokenfed just works; /authenticate takes the version from the body.
const (
	PathV1           = "/apis/authentication.k8s.io/v1/tokenreviews"
	PathV1beta1      = "/apis/authentication.k8s.io/v1beta1/tokenreviews"
	PathAuthenticate = "/authenticate"
)

// Routes is what the mux serves.
type Routes struct {
	// Review returns the review handler for a URL version ("" = from body).
	Review func(urlVersion string) http.Handler
	// ClientCA gates the review endpoints; health and metrics stay open.
	ClientCA callers.VerifyOptionsFunc
	// Live are liveness checks; Ready are readiness checks.
	Live, Ready []healthz.HealthChecker
	// Gatherer serves /metrics.
	Gatherer prometheus.Gatherer
	// Profiling serves /debug/pprof/ to callers with a client certificate.
	Profiling bool
}

// NewMux returns the handler for every route.
func NewMux(r Routes) http.Handler {
	mux := http.NewServeMux()
	for path, version := range map[string]string{PathV1: tokenreview.V1, PathV1beta1: tokenreview.V1beta1, PathAuthenticate: ""} {
		mux.Handle(path, callers.RequireClientCert(r.Review(version), r.ClientCA))
	}
	healthz.InstallHandler(mux, r.Live...)
	healthz.InstallLivezHandler(mux, r.Live...)
	mux.Handle("/readyz", readyzHandler(r.Ready))
	mux.Handle("/metrics", promhttp.HandlerFor(r.Gatherer, promhttp.HandlerOpts{}))
	if r.Profiling {
		mux.Handle("/debug/pprof/", callers.RequireClientCert(http.HandlerFunc(pprof.Index), r.ClientCA))
		mux.Handle("/debug/pprof/profile", callers.RequireClientCert(http.HandlerFunc(pprof.Profile), r.ClientCA))
	}
	return mux
}
