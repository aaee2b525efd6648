//go:build !linux

package controlplane

import (
	"context"
	"io"
	"os"
	"os/exec"
	"syscall"
)

// setProcAttrs is a no-op off Linux: there is no Pdeathsig, and Stop kills
// the process itself rather than its group.
func setProcAttrs(cmd *exec.Cmd) {}

func signalGroup(cmd *exec.Cmd, sig syscall.Signal) error {
	if sig == syscall.SIGKILL {
		return cmd.Process.Kill()
	}
	return cmd.Process.Signal(os.Interrupt)
}

// lockDir does not lock off Linux; concurrent builds are only slower.
func lockDir(ctx context.Context, dir string, progress io.Writer) (func(), error) {
	return func() {}, nil
}
