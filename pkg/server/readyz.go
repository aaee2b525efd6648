package server

import (
	"fmt"
	"net/http"
	"strings"

	"k8s.io/apiserver/pkg/server/healthz"
)

// Detailer is implemented by readiness checks that have something to say
// even when they pass, such as "keys 3m old, stale: issuer unreachable".
type Detailer interface {
	Detail() string
}

// Informational is implemented by checks that are reported but do not
// gate readiness. One unreachable issuer must not take tokenfed out of its
// Service: every other issuer, and the stale keys of that one, still work.
type Informational interface {
	Informational() bool
}

func gates(c healthz.HealthChecker) bool {
	i, ok := c.(Informational)
	return !ok || !i.Informational()
}

// readyzHandler is healthz's format plus details: k8s.io/apiserver's handler
// prints only ok/failed, and operators need to see a stale key set before
// it expires. Details never carry token data, but they name issuers, files
// and fetch errors, so only callers that mayDetail get them; everyone else
// (the kubelet) gets the status alone.
func readyzHandler(checks []healthz.HealthChecker, mayDetail func(*http.Request) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var out strings.Builder
		failed := false
		for _, c := range checks {
			err := c.Check(r)
			failed = failed || (err != nil && gates(c))
			writeCheckLine(&out, c, err)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, verbose := r.URL.Query()["verbose"]
		if (failed || verbose) && !mayDetail(r) {
			writeStatusOnly(w, failed)
			return
		}
		switch {
		case failed:
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "%sreadyz check failed\n", out.String())
		case verbose:
			fmt.Fprintf(w, "%sreadyz check passed\n", out.String())
		default:
			fmt.Fprint(w, "ok")
		}
	})
}

func writeCheckLine(out *strings.Builder, c healthz.HealthChecker, err error) {
	detail := ""
	if d, ok := c.(Detailer); ok && d.Detail() != "" {
		detail = " (" + d.Detail() + ")"
	}
	switch {
	case err != nil && !gates(c):
		fmt.Fprintf(out, "[-]%s not ready (does not gate readiness): %v%s\n", c.Name(), err, detail)
		return
	case err != nil:
		fmt.Fprintf(out, "[-]%s failed: %v%s\n", c.Name(), err, detail)
		return
	}
	fmt.Fprintf(out, "[+]%s ok%s\n", c.Name(), detail)
}

func writeStatusOnly(w http.ResponseWriter, failed bool) {
	if failed {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, "readyz check failed (details for authorized callers only)\n")
		return
	}
	fmt.Fprint(w, "ok")
}
