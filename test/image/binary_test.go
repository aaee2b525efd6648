// Package image checks what `make build` and `make image` ship: the server
// binary is static and links no LDAP or NTLM code, and the image holds that
// binary for every platform, runs it as a non-root user, and carries a CA
// bundle and its labels. They read the artifacts the Makefile built (whose
// paths it exports), so `make test` checks the very files it would push.
package image

import (
	"debug/buildinfo"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// TestServerBinary reads bin/tokenfed's build information, which is what
// `go version -m bin/tokenfed` prints.
func TestServerBinary(t *testing.T) {
	path := requireEnv(t, "TOKENFED_BINARY", binaryByHand)
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the build information of %s (built by `make build`?): %v", path, err)
	}
	for _, m := range info.Deps {
		if p := strings.ToLower(m.Path); strings.Contains(p, "ldap") || strings.Contains(p, "ntlm") {
			t.Errorf("%s links %s %s: LDAP and NTLM have no place in a TokenReview server (see `go mod why -m %s`)", path, m.Path, m.Version, m.Path)
		}
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	for key, want := range map[string]string{"CGO_ENABLED": "0", "-trimpath": "true"} {
		if settings[key] != want {
			t.Errorf("%s was built with %s=%q, want %q, as `make build` does", path, key, settings[key], want)
		}
	}
	// With -trimpath, Go records no -ldflags: ask the binary itself.
	version := requireEnv(t, "TOKENFED_VERSION", versionByHand)
	if out, err := exec.Command(path, "version").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "tokenfed "+version+" ") {
		t.Errorf("%s version printed %q (%v), want version %s: rebuild it with `make build`", path, out, err, version)
	}
	if err := checkStaticELF(path, elfMachine(t, runtime.GOARCH)); err != nil {
		t.Error(err)
	}
}

// elfMachine is the ELF machine of a GOARCH the image is built for.
func elfMachine(t *testing.T, goarch string) elf.Machine {
	t.Helper()
	m, ok := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[goarch]
	if !ok {
		t.Fatalf("no ELF machine known for GOARCH %s: add it to elfMachine", goarch)
	}
	return m
}

// checkStaticELF checks that path is an ELF executable for machine that
// needs no dynamic loader: it has no PT_INTERP program
// header (the loader the kernel would start) and no DT_NEEDED entries
// (the shared libraries that loader would have to find). An image from
// scratch has neither a loader nor a libc.
func checkStaticELF(path string, machine elf.Machine) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s is not an ELF binary: %w", path, err)
	}
	defer f.Close()
	if f.Machine != machine {
		return fmt.Errorf("%s is for %s, want %s", path, f.Machine, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s has a PT_INTERP program header: it is dynamically linked (built without CGO_ENABLED=0?)", path)
		}
	}
	libs, err := f.ImportedLibraries() // DT_NEEDED
	if err != nil {
		return fmt.Errorf("%s: reading DT_NEEDED: %w", path, err)
	}
	if len(libs) > 0 {
		return fmt.Errorf("%s needs shared libraries %v", path, libs)
	}
	return nil
}

// requireEnv returns the environment variable the Makefile exports, or
// fails saying how to set it: these tests check built artifacts and never
// pass by finding none.
func requireEnv(t *testing.T, name, byHand string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run these tests through `make test`, which exports it; by hand, %s", name, byHand)
	}
	return v
}

// How to set each variable by hand.
const (
	binaryByHand  = "run `make build` and set it to $PWD/bin/tokenfed"
	imageByHand   = "run `make image` and set it to $PWD/bin/image"
	versionByHand = "set it to the output of `make -s version`"
)
