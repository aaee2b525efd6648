// Command demo is `make run`: a local federation with no Docker and no
// cluster of your own. It starts a hub control plane, tokenfed trusting
// the hub's service accounts, and a member control plane that uses tokenfed
// as its token webhook; runs a short walkthrough with kubectl; then stays
// up until Ctrl-C and cleans up.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tokenfed/tokenfed/pkg/testing/federation"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	// Checked first: without kubectl the walkthrough would fail only after
	// both control planes and tokenfed had started.
	if _, err := exec.LookPath("kubectl"); err != nil {
		return fmt.Errorf("the walkthrough runs kubectl, which is not on PATH: install it (https://kubernetes.io/docs/tasks/tools/) and run make run again")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := demoDir()
	if err != nil {
		return err
	}
	defer removeDir(dir)
	start := time.Now()
	f, err := federation.Start(ctx, federation.Options{Dir: dir, WebhookVersion: "v1", Progress: os.Stdout})
	if err != nil {
		return err
	}
	defer f.Stop()
	fmt.Printf("==> federation up in %s\n\n", time.Since(start).Round(100*time.Millisecond))
	w := newWalkthrough(f, dir)
	if err := w.run(ctx); err != nil {
		return fmt.Errorf("walkthrough: %w", err)
	}
	w.printTryIt()
	<-ctx.Done()
	fmt.Println("\n==> stopping the member, tokenfed and the hub")
	return nil
}

// demoDir is a fresh directory under _run/, kept until the demo ends so
// the printed kubeconfig paths work while it runs.
func demoDir() (string, error) {
	dir, err := filepath.Abs(filepath.Join("_run", time.Now().Format("20060102-150405")))
	if err != nil {
		return "", err
	}
	return dir, os.MkdirAll(dir, 0o700)
}

func removeDir(dir string) {
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintln(os.Stderr, "demo: cleanup:", err)
	}
}
