package controlplane

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeModule writes a tool module into a new directory and returns it.
func writeModule(t *testing.T, goMod string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files["go.mod"] = goMod
	if _, ok := files["go.sum"]; !ok {
		files["go.sum"] = ""
	}
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// brokenModule requires a module that does not exist.
func brokenModule(t *testing.T) toolModule {
	dir := writeModule(t, "module example.com/broken\n\ngo 1.26\n\nrequire example.invalid/nonexistent v0.0.1\n", map[string]string{})
	return toolModule{name: "broken-tool", dir: dir, module: "example.invalid/nonexistent",
		pkg: "example.invalid/nonexistent/cmd/tool", envVar: "TOKENFED_TEST_BROKEN_TOOL", hint: "~1 s"}
}

// tinyModule builds a trivial binary in about a second.
func tinyModule(t *testing.T, name string) toolModule {
	dir := writeModule(t, "module example.com/"+name+"\n\ngo 1.26\n", map[string]string{
		"main.go": "package main\n\nfunc main() {}\n",
	})
	return toolModule{name: name, dir: dir, module: "example.com/" + name, pkg: ".",
		envVar: "TOKENFED_TEST_" + strings.ToUpper(name), hint: "~1 s"}
}

func TestEnsureBinariesBrokenModule(t *testing.T) {
	// Keep the test offline and deterministic: the failure must come from
	// go itself, not from a slow network.
	t.Setenv("GOPROXY", "off")
	broken := brokenModule(t)
	plan := buildPlan{outRoot: t.TempDir(), etcd: broken, apiserver: broken}

	_, err := ensureBinaries(context.Background(), plan, nil)
	if err == nil {
		t.Fatal("got no error building a module that requires a nonexistent package, want one")
	}
	for _, want := range []string{
		"build broken-tool",           // what
		broken.dir,                    // where
		"example.invalid/nonexistent", // go's own words
		"Go module proxy",             // why
		"make controlplane",           // how to fix
		broken.envVar,                 // or how to avoid
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got error\n%v\nwant it to contain %q", err, want)
		}
	}
}

func TestEnsureBinariesBuildsOncePerPin(t *testing.T) {
	plan := buildPlan{outRoot: t.TempDir(), etcd: tinyModule(t, "etcd"), apiserver: tinyModule(t, "apiserver")}
	ctx := context.Background()

	var progress bytes.Buffer
	first, err := ensureBinaries(ctx, plan, &progress)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(progress.String(), "building "); got != 2 {
		t.Errorf("first run: got %d builds, want 2; progress:\n%s", got, progress.String())
	}
	for _, bin := range []string{first.Etcd, first.KubeAPIServer} {
		if err := checkExecutable(bin); err != nil {
			t.Errorf("binary %s: %v", bin, err)
		}
	}

	progress.Reset()
	second, err := ensureBinaries(ctx, plan, &progress)
	if err != nil {
		t.Fatal(err)
	}
	if second != first || progress.Len() != 0 {
		t.Errorf("second run: got %+v with progress %q, want %+v reused silently", second, progress.String(), first)
	}

	// A changed pin must not reuse binaries built for the old one.
	if err := os.WriteFile(filepath.Join(plan.etcd.dir, "go.sum"), []byte("\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	third, err := ensureBinaries(ctx, plan, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(third.Etcd) == filepath.Dir(first.Etcd) {
		t.Errorf("after a pin change: got directory %s again, want a new one", filepath.Dir(third.Etcd))
	}
}

func TestEnsureBinariesEnvOverride(t *testing.T) {
	broken := brokenModule(t)
	plan := buildPlan{outRoot: t.TempDir(), etcd: broken, apiserver: broken}
	prebuilt := filepath.Join(t.TempDir(), "prebuilt")
	if err := os.WriteFile(prebuilt, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(broken.envVar, prebuilt)

	got, err := ensureBinaries(context.Background(), plan, nil)
	if err != nil {
		t.Fatalf("got %v, want the override used without building", err)
	}
	if want := (Binaries{KubeAPIServer: prebuilt, Etcd: prebuilt}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}

	if err := os.Chmod(prebuilt, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ensureBinaries(context.Background(), plan, nil); err == nil || !strings.Contains(err.Error(), broken.envVar) {
		t.Errorf("non-executable override: got %v, want an error naming %s", err, broken.envVar)
	}
}

func TestModuleVersion(t *testing.T) {
	dir := writeModule(t, "module m\n\nrequire (\n\tk8s.io/kubernetes v1.37.2\n)\n\nrequire go.etcd.io/etcd/server/v3 v3.6.16\n", map[string]string{})
	goMod := filepath.Join(dir, "go.mod")
	for module, want := range map[string]string{
		"k8s.io/kubernetes":         "v1.37.2",
		"go.etcd.io/etcd/server/v3": "v3.6.16",
		"example.com/absent":        "",
	} {
		if got := moduleVersion(goMod, module); got != want {
			t.Errorf("moduleVersion(%s): got %q, want %q", module, got, want)
		}
	}
}

func TestKubeVersionLDFlags(t *testing.T) {
	got := kubeVersionLDFlags("v1.37.2")
	for _, want := range []string{"version.gitVersion=v1.37.2", "version.gitMajor=1 ", "version.gitMinor=37 "} {
		if !strings.Contains(got, want) {
			t.Errorf("got %q, want it to contain %q", got, want)
		}
	}
}
