// Command edge is `make edge`: the device story of docs/edge.md, run for
// real on this machine with no Docker and no cluster of your own. It starts
// a hub control plane, tokenfed trusting the hub's service accounts, and
// the edge API (hack/edge/edgeapi) asking tokenfed with its own token; then
// it mints device tokens with kubectl and runs the device program
// (hack/edge/device) against the edge API, printing every command and its
// output. It exits 0 when every step did what it says, or, with --stay,
// stays up until Ctrl-C. Everything lives under _run/ and is removed at the
// end.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	stay := flag.Bool("stay", false, "stay up after the walkthrough, until Ctrl-C")
	device := flag.String("device", "bin/edge-device", "the device program (go build -o bin/edge-device ./hack/edge/device)")
	flag.Parse()
	if err := run(*stay, *device); err != nil {
		fmt.Fprintln(os.Stderr, "edge:", err)
		os.Exit(1)
	}
}

func run(stay bool, device string) error {
	// Checked first: without kubectl the story would fail only after the
	// hub, tokenfed and the edge API had started.
	if _, err := exec.LookPath("kubectl"); err != nil {
		return fmt.Errorf("the walkthrough runs kubectl, which is not on PATH: install it (https://kubernetes.io/docs/tasks/tools/) and run make edge again")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	device, err := filepath.Abs(device)
	if err != nil {
		return err
	}
	if _, err := os.Stat(device); err != nil {
		return fmt.Errorf("the device program: %w (make edge builds it)", err)
	}
	dir, err := filepath.Abs(filepath.Join("_run", "edge-"+time.Now().Format("20060102-150405")))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	defer removeDir(dir)
	start := time.Now()
	e := &env{dir: dir, device: device}
	defer e.stop()
	if err := e.run(ctx); err != nil {
		return err
	}
	fmt.Printf("\n==> the edge story ran to the end in %s\n", time.Since(start).Round(100*time.Millisecond))
	if !stay {
		return nil
	}
	e.printTryIt()
	<-ctx.Done()
	fmt.Println("\n==> stopping the edge API, tokenfed and the hub")
	return nil
}

func removeDir(dir string) {
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintln(os.Stderr, "edge: cleanup:", err)
	}
}
