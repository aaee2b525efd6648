package kubeconfig

import (
	"fmt"
	"os"
	"path/filepath"
)

// fileMode is the mode of a written kubeconfig: it may embed a private key.
const fileMode = 0o600

// WriteFile writes data to path with mode 0600, replacing any file there.
// The data goes to a new file that is renamed over path, so an existing
// file of a wider mode never holds it, and a reader sees the old file or
// the new one, never half of it. The directory must exist.
func WriteFile(path string, data []byte) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	// CreateTemp already makes the file 0600; say so rather than rely on it.
	if err := tmp.Chmod(fileMode); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}
