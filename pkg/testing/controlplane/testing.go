package controlplane

import (
	"strings"
	"testing"
	"time"
)

// StartT starts a control plane for a test and stops it when the test ends.
// It fails the test, never skips it, when the control plane cannot start,
// binaries that cannot be built included: the error says how to fix that.
func StartT(t testing.TB, opts Options) *ControlPlane {
	t.Helper()
	if opts.Progress == nil {
		opts.Progress = testWriter{t}
	}
	start := time.Now()
	c, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("control plane %q: %s", c.Name, c.LogTail())
		}
		c.Stop()
	})
	t.Logf("control plane %q ready at %s in %s (dir %s)", c.Name, c.URL, time.Since(start).Round(time.Millisecond), c.Dir)
	return c
}

// testWriter sends build progress to the test log, which `go test -v`
// streams, so a five-minute first build does not look like a hang.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
