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
	// Gate authenticates and authorizes callers of the review endpoints and
	// of the privileged ones (/metrics, /readyz details, /debug/pprof).
	Gate *callers.Gate
	// Live are liveness checks; Ready are readiness checks.
	Live, Ready []healthz.HealthChecker
	// Gatherer serves /metrics.
	Gatherer prometheus.Gatherer
	// Profiling serves /debug/pprof/.
	Profiling bool
}

// NewMux returns the handler for every route. /healthz, /livez and the
// status of /readyz stay open for the kubelet.
func NewMux(r Routes) http.Handler {
	mux := http.NewServeMux()
	for path, version := range map[string]string{PathV1: tokenreview.V1, PathV1beta1: tokenreview.V1beta1, PathAuthenticate: ""} {
		mux.Handle(path, r.Gate.Reviews(r.Review(version)))
	}
	healthz.InstallHandler(mux, r.Live...)
	healthz.InstallLivezHandler(mux, r.Live...)
	mux.Handle("/readyz", readyzHandler(r.Ready, func(req *http.Request) bool { return r.Gate.MayReadQuietly(req, "/readyz") }))
	mux.Handle("/metrics", r.Gate.Endpoint("/metrics", promhttp.HandlerFor(r.Gatherer, promhttp.HandlerOpts{})))
	if r.Profiling {
		mux.Handle("/debug/pprof/", r.Gate.Endpoint("/debug/pprof", http.HandlerFunc(pprof.Index)))
		mux.Handle("/debug/pprof/profile", r.Gate.Endpoint("/debug/pprof", http.HandlerFunc(pprof.Profile)))
	}
	return mux
}
