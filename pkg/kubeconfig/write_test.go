package kubeconfig

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	tests := []struct {
		name string
		// existing, if not zero, is the mode of a file already at the path.
		existing os.FileMode
	}{
		{name: "a new file"},
		{name: "over a world-readable file", existing: 0o644},
		{name: "over a file nobody may read", existing: 0o000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "webhook.kubeconfig")
			if tt.existing != 0 {
				if err := os.WriteFile(path, []byte("old"), tt.existing); err != nil {
					t.Fatal(err)
				}
			}
			if err := WriteFile(path, []byte("new")); err != nil {
				t.Fatalf("WriteFile: %v", err)
			}
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := info.Mode().Perm(); got != 0o600 {
				t.Errorf("got mode %v, want 0600", got)
			}
			if got := mustRead(t, path); got != "new" {
				t.Errorf("got content %q, want %q", got, "new")
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("got %d files in the directory, want only the kubeconfig: %v", len(entries), entries)
			}
		})
	}
}

func TestWriteFileNoDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "webhook.kubeconfig")
	if err := WriteFile(path, []byte("new")); err == nil {
		t.Fatal("got no error, want one for a directory that does not exist")
	}
}
