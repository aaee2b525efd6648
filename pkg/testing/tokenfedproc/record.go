package tokenfedproc

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// records are copies of the log and response-body files of every process
// this package started in a test binary. Tests keep those files in their
// temporary directories, which are gone by the time TestMain scans them
// for tokens (secretscan), so Stop copies them here first.
var records struct {
	mu    sync.Mutex
	dir   string
	files []string
}

// Recorded returns the log and response-body files of every process
// stopped so far.
func Recorded() []string {
	records.mu.Lock()
	defer records.mu.Unlock()
	return append([]string(nil), records.files...)
}

// RemoveRecorded deletes the copies, once they have been scanned.
func RemoveRecorded() error {
	records.mu.Lock()
	defer records.mu.Unlock()
	dir := records.dir
	records.dir, records.files = "", nil
	if dir == "" {
		return nil
	}
	return os.RemoveAll(dir)
}

// keepRecords copies the process's log and recorded responses out of its
// directory. Outside tests (the demo, the benchmarks) nothing scans them.
func (p *Process) keepRecords() error {
	if !testing.Testing() {
		return nil
	}
	records.mu.Lock()
	defer records.mu.Unlock()
	if records.dir == "" {
		dir, err := os.MkdirTemp("", "tokenfedproc-records-")
		if err != nil {
			return err
		}
		records.dir = dir
	}
	for _, src := range []string{p.outputFile, p.ResponsesFile} {
		if err := keep(src); err != nil {
			return err
		}
	}
	return nil
}

// keep copies src into the records, if it is a regular file: an Output
// such as /dev/stdout is not the process's own.
func keep(src string) error {
	info, err := os.Stat(src)
	if os.IsNotExist(err) || err == nil && !info.Mode().IsRegular() {
		return nil
	}
	if err != nil {
		return err
	}
	dst := filepath.Join(records.dir, fmt.Sprintf("%03d-%s", len(records.files), filepath.Base(src)))
	if err := copyFile(dst, src); err != nil {
		// The original stays on the list: if it is gone by the scan, the
		// scan fails instead of passing without it.
		records.files = append(records.files, src)
		return fmt.Errorf("keeping %s for the token scan: %w", src, err)
	}
	records.files = append(records.files, dst)
	return nil
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
