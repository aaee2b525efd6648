package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// step is one command the walkthrough runs and prints with its output, so
// what the user reads is what happened. hack/demo does the same for
// `make run`; the two are kept apart so that neither walkthrough's output
// changes with the other.
type step struct {
	// title is printed as "# title" before the command; "" continues the
	// previous one.
	title string
	argv  []string
	// want judges the combined output and the exit status.
	want func(out string, code int) error
	// saveTo: standard output is a token, written to this file in dir and
	// never printed.
	saveTo string
}

func (e *env) steps(ctx context.Context, steps []step) error {
	for _, s := range steps {
		if s.title != "" {
			fmt.Printf("\n# %s\n", s.title)
		}
		out, code, err := e.runShown(ctx, s)
		if err != nil {
			return fmt.Errorf("%s: %w", shellLine(s.argv), err)
		}
		if err := s.want(out, code); err != nil {
			return fmt.Errorf("%s: %w", shellLine(s.argv), err)
		}
	}
	return nil
}

// runShown runs s in dir and prints the command and its output; a token is
// never printed. err is a command that could not run at all.
func (e *env) runShown(ctx context.Context, s step) (out string, code int, err error) {
	fmt.Printf("$ %s\n", shellLine(s.argv))
	cmd := exec.CommandContext(ctx, s.argv[0], s.argv[1:]...)
	cmd.Dir = e.dir
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			return "", 0, err
		}
		code = exit.ExitCode()
	}
	if s.saveTo != "" && code == 0 {
		token := strings.TrimSpace(stdout.String())
		if err := os.WriteFile(filepath.Join(e.dir, s.saveTo), []byte(token), 0o600); err != nil {
			return "", code, err
		}
		fmt.Printf("  (token written to %s, %d bytes)\n", s.saveTo, len(token))
		return "", code, nil
	}
	fmt.Print(indent(stdout.String() + stderr.String()))
	if code != 0 {
		fmt.Printf("  (exit status %d)\n", code)
	}
	return stdout.String() + stderr.String(), code, nil
}

// pathDirs are the directories of the device and tokenfed binaries, put
// first on the PATH (see run) so that they run by their names.
func (e *env) pathDirs() string {
	dirs := []string{filepath.Dir(e.device)}
	if bin, err := tokenfedproc.Binary(); err == nil && filepath.Dir(bin) != dirs[0] {
		dirs = append(dirs, filepath.Dir(bin))
	}
	return strings.Join(dirs, string(os.PathListSeparator))
}

// exits wants exit status code and output that contains each of wants.
func exits(code int, wants ...string) func(string, int) error {
	return func(out string, got int) error {
		if got != code {
			return fmt.Errorf("exit status %d, want %d", got, code)
		}
		for _, w := range wants {
			if !strings.Contains(out, w) {
				return fmt.Errorf("output lacks %q", w)
			}
		}
		return nil
	}
}

// shellLine quotes argv as a POSIX shell would need it.
func shellLine(argv []string) string {
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = shellQuote(a)
	}
	return strings.Join(quoted, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool { return !safeShellRune(r) }) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func safeShellRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@+%", r)
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "  " + strings.ReplaceAll(s, "\n", "\n  ") + "\n"
}
