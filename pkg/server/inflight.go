package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// unlimitedPaths are served whatever the load: the kubelet's probes must
// see tokenfed as it is (a busy tokenfed refusing its probes would be
// restarted, or taken out of its Service, for being busy), and Prometheus
// must be able to see an overload. They are cheap, and /metrics is open
// only to callers granted it.
var unlimitedPaths = []string{"/healthz", "/livez", "/readyz", "/metrics"}

func unlimited(path string) bool {
	for _, p := range unlimitedPaths {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// limitInFlight serves at most max requests at once, over all connections
// and both HTTP versions; any further request is answered at once with
// 503, so that its goroutine ends instead of waiting. It is the global
// bound on streams: an HTTP/2 server starts a handler goroutine for every
// stream a client opens (up to MaxConcurrentStreams per connection), and a
// stream that never sends its body holds that goroutine for the whole
// ReadTimeout. kube-apiserver bounds its own requests the same way
// (--max-requests-inflight, default 400).
//
// 503 and not 429, and without Retry-After: kube-apiserver's webhook client
// retries a 429, and any answer carrying Retry-After, with backoff
// (DefaultShouldRetry in k8s.io/apiserver pkg/util/webhook), and client-go
// under it retries Retry-After again; an overloaded tokenfed must not be
// sent every request five or more times. max <= 0 means no bound.
func limitInFlight(next http.Handler, max int, m *Metrics) http.Handler {
	if max <= 0 {
		return next
	}
	slots := make(chan struct{}, max)
	refusal := overloadBody(max)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if unlimited(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		select {
		case slots <- struct{}{}:
		default:
			m.refused()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write(refusal)
			return
		}
		m.inFlight(1)
		defer func() {
			m.inFlight(-1)
			<-slots
		}()
		next.ServeHTTP(w, r)
	})
}

// overloadBody is the metav1.Status of a request refused for the bound.
func overloadBody(max int) []byte {
	body, _ := json.Marshal(metav1.Status{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
		Status:   metav1.StatusFailure, Code: http.StatusServiceUnavailable, Reason: metav1.StatusReasonServiceUnavailable,
		Message: fmt.Sprintf("tokenfed is overloaded: %d requests in flight (server.maxRequestsInFlight)", max),
	})
	return append(body, '\n')
}
