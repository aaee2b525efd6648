package controlplane

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// buildOutputLines is how much of go's output a build error carries: enough
// for the real cause, which go prints last, without burying it.
const buildOutputLines = 20

// goBuild builds m into out. It builds into a temporary name first so that an
// interrupted build never leaves a truncated binary that looks cached.
func goBuild(ctx context.Context, m toolModule, version, out string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("create control-plane binary directory: %w", err)
	}
	tmp := fmt.Sprintf("%s.tmp-%d", out, os.Getpid())
	defer os.Remove(tmp)
	args := []string{"build", "-o", tmp}
	if m.ldflags != nil {
		args = append(args, "-ldflags", m.ldflags(version))
	}
	args = append(args, m.pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = m.dir
	// A go.work above the repo must not pull the tool module into a workspace:
	// the pins in its own go.mod/go.sum are the point.
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		return buildError(m, err, output.Bytes())
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("install %s: %w", m.name, err)
	}
	return nil
}

// buildError says what failed, where, why (go's own words) and how to fix it,
// because the reader is usually someone who only ran `make test`.
func buildError(m toolModule, err error, output []byte) error {
	return fmt.Errorf("build %s in tool module %s (go build %s): %w\n"+
		"go output (last %d lines):\n%s\n"+
		"how to fix: %s"+
		"this build fetches %s and its dependencies through the Go module proxy (GOPROXY=%s); "+
		"make sure the proxy is reachable and run `make controlplane`, "+
		"or set %s to a prebuilt %s binary",
		m.name, m.dir, m.pkg, err,
		buildOutputLines, indent(lastLines(output, buildOutputLines)),
		pinHint(m, output), m.module, goproxy(), m.envVar, m.name)
}

// pinHint adds the usual cause when go.mod and go.sum disagree, which
// happens after someone edits a pin by hand.
func pinHint(m toolModule, output []byte) string {
	if !bytes.Contains(output, []byte("missing go.sum entry")) {
		return ""
	}
	return fmt.Sprintf("go.sum in %s lacks entries for its go.mod: run `go mod tidy` there (the pins changed by hand?); ", m.dir)
}

func goproxy() string {
	if p := os.Getenv("GOPROXY"); p != "" {
		return p
	}
	out, err := exec.Command("go", "env", "GOPROXY").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// kubeVersionLDFlags stamps the release into the binary the way the
// Kubernetes build does, so /version and kubectl report v1.37.2 rather than
// v0.0.0-master. Link flags do not change the compiled packages, so the Go
// build cache still applies.
func kubeVersionLDFlags(version string) string {
	const pkg = "k8s.io/component-base/version"
	major, minor, _ := strings.Cut(strings.TrimPrefix(version, "v"), ".")
	minor, _, _ = strings.Cut(minor, ".")
	return fmt.Sprintf("-X %[1]s.gitVersion=%[2]s -X %[1]s.gitMajor=%[3]s -X %[1]s.gitMinor=%[4]s -X %[1]s.gitTreeState=clean",
		pkg, version, major, minor)
}

// moduleVersion reads the version of module from a go.mod's require lines.
// It returns "" when the module is not required, which only costs the
// progress line its version.
func moduleVersion(goModPath, module string) string {
	data, err := os.ReadFile(goModPath)
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "require "))
		if len(fields) >= 2 && fields[0] == module {
			return fields[1]
		}
	}
	return ""
}

// lastLines returns at most n trailing lines of text.
func lastLines(text []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(text), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
