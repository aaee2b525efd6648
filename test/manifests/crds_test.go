package manifests

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// The Prometheus Operator's CRDs (ServiceMonitor, PrometheusRule) come from
// its Go module at this version, which the Go module proxy serves like any
// dependency. The module is not a dependency of tokenfed's go.mod: requiring
// it would pull the operator's whole dependency graph into tokenfed's build
// and could move tokenfed's own k8s.io versions. `go mod download` fetches
// it into the module cache alone (once; later runs need no network), and
// the hash below, as a go.sum line would hold it, pins the exact files.
const (
	promOperatorModule  = "github.com/prometheus-operator/prometheus-operator"
	promOperatorVersion = "v0.85.0"
	promOperatorSum     = "h1:M5xLCLEoaW2IJfnuCwFzzpL+jSVQu3KGT84Pye+fW8s="
)

// certManagerModule is in go.mod; its version there is the one whose CRDs
// are installed, and go.sum pins its hash.
const certManagerModule = "github.com/cert-manager/cert-manager"

// crdFiles are the CRD manifests the manifests under config/ need.
func crdFiles(t *testing.T, repoRoot string) []string {
	t.Helper()
	cm := moduleDir(t, repoRoot, certManagerModule, "")
	prom := moduleDir(t, t.TempDir(), promOperatorModule+"@"+promOperatorVersion, promOperatorSum)
	files := []string{
		filepath.Join(cm, "deploy", "crds", "cert-manager.io_certificates.yaml"),
		filepath.Join(cm, "deploy", "crds", "cert-manager.io_certificaterequests.yaml"),
		filepath.Join(cm, "deploy", "crds", "cert-manager.io_issuers.yaml"),
		filepath.Join(cm, "deploy", "crds", "cert-manager.io_clusterissuers.yaml"),
		filepath.Join(prom, "example", "prometheus-operator-crd", "monitoring.coreos.com_servicemonitors.yaml"),
		filepath.Join(prom, "example", "prometheus-operator-crd", "monitoring.coreos.com_prometheusrules.yaml"),
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("CRD file: %v", err)
		}
	}
	return files
}

// moduleDir runs `go mod download -json` for module in dir and returns the
// module's directory in the module cache. In the repository it resolves
// the version go.mod requires; elsewhere module names its version. A
// non-empty sum must match.
func moduleDir(t *testing.T, dir, module, sum string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), goTool(), "mod", "download", "-json", module)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var info struct {
		Dir, Sum, Error string
	}
	if jerr := json.Unmarshal(stdout.Bytes(), &info); jerr != nil || err != nil || info.Error != "" {
		t.Fatalf("go mod download %s (needs the Go module proxy the first time): %v %s\n%s%s", module, err, info.Error, stderr.String(), stdout.String())
	}
	if sum != "" && info.Sum != sum {
		t.Fatalf("go mod download %s: got hash %s, want the pinned %s", module, info.Sum, sum)
	}
	return info.Dir
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}
