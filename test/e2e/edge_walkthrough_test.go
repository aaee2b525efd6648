package e2e

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// TestMakeEdgeWalkthrough runs what `make edge` runs: the walkthrough
// binary and the device program, built from this checkout. The walkthrough
// checks every step itself and exits 1 on the first one that does not do
// what it prints; this test wants exit 0, the lines docs/edge.md quotes,
// no token in the output, and its run directory gone.
func TestMakeEdgeWalkthrough(t *testing.T) {
	root := tokenfedproc.RepoRoot()
	bin := t.TempDir()
	for name, pkg := range map[string]string{"edge": "./hack/edge", "edge-device": "./hack/edge/device"} {
		cmd := exec.CommandContext(ctx(t), "go", "build", "-o", filepath.Join(bin, name), pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	runsBefore := edgeRuns(t, root)
	cmd := exec.CommandContext(ctx(t), filepath.Join(bin, "edge"), "--device", filepath.Join(bin, "edge-device"))
	cmd.Dir = root // where `make edge` runs it: it finds the control-plane pins there
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	text := out.String()
	if err != nil {
		t.Fatalf("the walkthrough: %v\n%s", err, text)
	}
	for _, want := range []string{
		"HTTP  200 OK: user=" + deviceUser,
		"gRPC  OK: user=" + deviceUser,
		`HTTP  401 Unauthorized: WWW-Authenticate: Bearer realm="edge", error="invalid_token"`,
		"gRPC  Unauthenticated",
		"authenticated: " + deviceUser,
		"the bound token was refused",
		`serviceaccounts "device-1" not found`,
		"the edge story ran to the end",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the walkthrough's output lacks %q", want)
		}
	}
	if jwtShape.MatchString(text) {
		t.Errorf("the walkthrough printed something shaped like a token")
	}
	if after := edgeRuns(t, root); after > runsBefore {
		t.Errorf("the walkthrough left its run directory behind in %s", filepath.Join(root, "_run"))
	}
	if t.Failed() {
		t.Logf("the walkthrough's output:\n%s", text)
	}
}

// jwtShape matches the header and payload of a JWT: base64url of `{"`.
var jwtShape = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.eyJ`)

// edgeRuns counts the walkthroughs' directories under root/_run.
func edgeRuns(t *testing.T, root string) int {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(root, "_run", "edge-*"))
	if err != nil {
		t.Fatal(err)
	}
	return len(matches)
}
