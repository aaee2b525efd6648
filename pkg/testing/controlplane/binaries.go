package controlplane

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Environment variables that point at prebuilt binaries and skip the build.
const (
	EnvKubeAPIServer = "TOKENFED_KUBE_APISERVER"
	EnvEtcd          = "TOKENFED_ETCD"
)

// Binaries are the paths of the control-plane executables.
type Binaries struct {
	KubeAPIServer string
	Etcd          string
}

// toolModule is one pinned module under hack/controlplane that builds one
// binary. It is a value, not a constant, so tests can point it at a
// deliberately broken module.
type toolModule struct {
	name    string // binary name, e.g. "kube-apiserver"
	dir     string // module directory holding go.mod and go.sum
	module  string // module whose version is reported, e.g. "k8s.io/kubernetes"
	pkg     string // main package to build
	envVar  string // environment variable naming a prebuilt binary
	ldflags func(version string) string
	hint    string // how long a cold build takes, for the progress line
}

// buildPlan says where binaries go and which modules build them.
type buildPlan struct {
	outRoot   string // binaries land in outRoot/<pin hash>/
	etcd      toolModule
	apiserver toolModule
}

// EnsureBinaries returns kube-apiserver and etcd binaries for the pins in
// repoRoot/hack/controlplane, building them into
// repoRoot/bin/controlplane/<hash of the pins>/ only when they are missing.
// A build can take minutes, so progress is written to progress (may be nil).
// TOKENFED_KUBE_APISERVER and TOKENFED_ETCD name prebuilt binaries instead.
func EnsureBinaries(ctx context.Context, repoRoot string, progress io.Writer) (Binaries, error) {
	return ensureBinaries(ctx, defaultPlan(repoRoot), progress)
}

func defaultPlan(repoRoot string) buildPlan {
	hack := filepath.Join(repoRoot, "hack", "controlplane")
	return buildPlan{
		outRoot: filepath.Join(repoRoot, "bin", "controlplane"),
		etcd: toolModule{
			name:   "etcd",
			dir:    filepath.Join(hack, "etcd"),
			module: "go.etcd.io/etcd/server/v3",
			pkg:    "go.etcd.io/etcd/server/v3",
			envVar: EnvEtcd,
			hint:   "~1 min",
		},
		apiserver: toolModule{
			name:    "kube-apiserver",
			dir:     filepath.Join(hack, "kube-apiserver"),
			module:  "k8s.io/kubernetes",
			pkg:     "k8s.io/kubernetes/cmd/kube-apiserver",
			envVar:  EnvKubeAPIServer,
			ldflags: kubeVersionLDFlags,
			hint:    "~5 min",
		},
	}
}

func ensureBinaries(ctx context.Context, plan buildPlan, progress io.Writer) (Binaries, error) {
	if progress == nil {
		progress = io.Discard
	}
	hash, err := pinHash(plan.etcd.dir, plan.apiserver.dir)
	if err != nil {
		return Binaries{}, err
	}
	outDir := filepath.Join(plan.outRoot, hash)
	// etcd first: it is quick, so a broken proxy shows up before the long build.
	etcd, err := ensureBinary(ctx, plan.etcd, outDir, progress)
	if err != nil {
		return Binaries{}, err
	}
	apiserver, err := ensureBinary(ctx, plan.apiserver, outDir, progress)
	if err != nil {
		return Binaries{}, err
	}
	return Binaries{KubeAPIServer: apiserver, Etcd: etcd}, nil
}

// ensureBinary returns the override, the cached binary, or a fresh build.
func ensureBinary(ctx context.Context, m toolModule, outDir string, progress io.Writer) (string, error) {
	if path := os.Getenv(m.envVar); path != "" {
		if err := checkExecutable(path); err != nil {
			return "", fmt.Errorf("%s=%s: %w", m.envVar, path, err)
		}
		return path, nil
	}
	out := filepath.Join(outDir, m.name)
	if checkExecutable(out) == nil {
		return out, nil
	}
	unlock, err := lockDir(ctx, outDir, progress)
	if err != nil {
		return "", err
	}
	defer unlock()
	// Another process may have built it while this one waited for the lock.
	if checkExecutable(out) == nil {
		return out, nil
	}
	return out, buildTool(ctx, m, out, progress)
}

func buildTool(ctx context.Context, m toolModule, out string, progress io.Writer) error {
	version := moduleVersion(filepath.Join(m.dir, "go.mod"), m.module)
	fmt.Fprintf(progress, "building %s %s from Go modules (first build takes %s on 2 cores)...\n", m.name, version, m.hint)
	start := time.Now()
	if err := goBuild(ctx, m, version, out); err != nil {
		return err
	}
	fmt.Fprintf(progress, "built %s in %s: %s\n", m.name, time.Since(start).Round(time.Second), out)
	return nil
}

// pinHash names the output directory after the pins, so changing a pinned
// version builds new binaries next to the old ones instead of reusing stale ones.
func pinHash(moduleDirs ...string) (string, error) {
	h := sha256.New()
	for _, dir := range moduleDirs {
		for _, name := range []string{"go.mod", "go.sum"} {
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				return "", fmt.Errorf("read control-plane tool module pins: %w", err)
			}
			fmt.Fprintf(h, "%s/%s %d\n", filepath.Base(dir), name, len(data))
			h.Write(data)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

func checkExecutable(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("not an executable file")
	}
	return nil
}
