package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// TestReadmeCommandsOnAFreshClone does what a new user does: read the two
// commands in the README, clone the repository, and run `make run` until
// it has printed its walkthrough; then Ctrl-C, which must clean up.
// (`make test` is the command running this test.)
func TestReadmeCommandsOnAFreshClone(t *testing.T) {
	root := tokenfedproc.RepoRoot()
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)## Two commands.*?```sh\n(.*?)```").FindSubmatch(readme)
	if block == nil || !strings.Contains(string(block[1]), "make run") || !strings.Contains(string(block[1]), "make test") {
		t.Fatalf("README's \"Two commands\" block must show make run and make test, got %q", block)
	}
	clone := filepath.Join(t.TempDir(), "tokenfed")
	if out, err := exec.Command("git", "clone", "-q", root, clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	out := runUntil(t, clone, "Press Ctrl-C", 15*time.Minute)
	for _, want := range []string{
		"kubectl --kubeconfig", "auth whoami",
		"Username                                            hub:system:serviceaccount:demo:app",
		`User "hub:system:serviceaccount:demo:app" cannot list resource "configmaps"`,
		"rolebinding.rbac.authorization.k8s.io/hub-app-reads-cm created",
		"hello   1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("make run output lacks %q", want)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(clone, "_run")); len(entries) != 0 {
		t.Errorf("make run left %d run directories behind after Ctrl-C", len(entries))
	}
	if t.Failed() {
		t.Logf("make run output:\n%s", out)
	}
}

// runUntil runs `make run` in dir until a line contains marker, then sends
// Ctrl-C (SIGINT to the process group) and waits for a clean exit.
func runUntil(t *testing.T, dir, marker string, timeout time.Duration) string {
	t.Helper()
	cmd := exec.Command("make", "run")
	cmd.Dir = dir
	// A new user has no TOKENFED_BINARY: the clone builds and runs its own.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "TOKENFED_BINARY=") })
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	var out lockedBuilder
	found := make(chan bool, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if !sent && strings.Contains(sc.Text(), marker) {
				found <- true
				sent = true
			}
		}
		if !sent {
			found <- false
		}
	}()
	select {
	case ok := <-found:
		if !ok {
			_ = cmd.Wait()
			t.Fatalf("make run exited before %q:\n%s", marker, out.String())
		}
	case <-time.After(timeout):
		t.Fatalf("make run did not reach %q in %s:\n%s", marker, timeout, out.String())
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("make run did not stop within a minute of Ctrl-C")
	}
	<-scanned
	return out.String()
}

// lockedBuilder is written by the reader goroutine and read by the test.
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) WriteString(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(s)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
