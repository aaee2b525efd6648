package tokenfedproc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
)

var (
	buildOnce   sync.Once
	builtBinary string
	buildErr    error
)

// RepoRoot is the root of the tokenfed checkout this package was built from.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Binary returns a tokenfed binary built from this checkout, once per
// process. TOKENFED_BINARY overrides it with a prebuilt one.
func Binary() (string, error) {
	if p := os.Getenv("TOKENFED_BINARY"); p != "" {
		return p, nil
	}
	buildOnce.Do(func() { builtBinary, buildErr = build() })
	return builtBinary, buildErr
}

func build() (string, error) {
	dir, err := os.MkdirTemp("", "tokenfed-bin-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "tokenfed")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/tokenfed")
	cmd.Dir = RepoRoot()
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building tokenfed: %w\n%s", err, msg)
	}
	return out, nil
}
