package httpauth_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// TestNoGRPC: an HTTP-only application must not link gRPC (or protobuf)
// through this package. The test binary links them for other reasons, so
// the package's own dependencies are asked of the go command.
func TestNoGRPC(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "github.com/tokenfed/tokenfed/pkg/client/httpauth")
	cmd.Dir = tokenfedproc.RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("got %d dependencies, want the real list", len(deps))
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "google.golang.org/") {
			t.Errorf("httpauth depends on %s", d)
		}
	}
}
