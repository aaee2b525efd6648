package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// lockPollInterval is how often a waiting build checks the lock again.
const lockPollInterval = 500 * time.Millisecond

// setProcAttrs puts the child in its own process group, so Stop can signal
// everything it started, and asks the kernel to kill it when the thread that
// started it dies, so a crashed or killed test binary leaves no apiserver
// behind. The caller keeps that thread locked for the child's lifetime.
func setProcAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// signalGroup sends sig to the child's process group.
func signalGroup(cmd *exec.Cmd, sig syscall.Signal) error {
	return syscall.Kill(-cmd.Process.Pid, sig)
}

// lockDir takes an exclusive lock on dir/.lock, so that two test binaries
// (go test runs packages in parallel) do not both spend minutes building the
// same binary on a 2-core machine.
func lockDir(ctx context.Context, dir string, progress io.Writer) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create control-plane binary directory: %w", err)
	}
	path := filepath.Join(dir, ".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open build lock: %w", err)
	}
	if err := flockWait(ctx, f, path, progress); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

func flockWait(ctx context.Context, f *os.File, path string, progress io.Writer) error {
	ticker := time.NewTicker(lockPollInterval)
	defer ticker.Stop()
	for waited := false; ; waited = true {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("lock %s: %w", path, err)
		}
		if !waited {
			fmt.Fprintf(progress, "waiting for another build of the control-plane binaries (lock %s)...\n", path)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for build lock %s: %w", path, ctx.Err())
		case <-ticker.C:
		}
	}
}
