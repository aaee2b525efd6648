package callers

import "testing"

// In Delegated mode /readyz details must not be granted by Kubernetes'
// default system:public-info-viewer role, which allows get /readyz to
// everyone; every other privileged path is asked as it is.
func TestDelegatedPath(t *testing.T) {
	for path, want := range map[string]string{
		"/readyz": ReadyzDetailsPath, "/metrics": "/metrics", "/debug/pprof": "/debug/pprof",
	} {
		if got := delegatedPath(path); got != want {
			t.Errorf("got %q for %s, want %q", got, path, want)
		}
	}
	if ReadyzDetailsPath == "/readyz" {
		t.Errorf("got ReadyzDetailsPath %q, want a path no default ClusterRole grants", ReadyzDetailsPath)
	}
}
