package authtest

import (
	"flag"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/go-logr/logr/funcr"
	"k8s.io/klog/v2"

	"github.com/tokenfed/tokenfed/pkg/testing/secretscan"
)

// maxVerbosity: everything the middleware and the libraries under it can
// log is written, so the scan reads all of it.
const maxVerbosity = 10

// MainOptions are what Main adds to the scan.
type MainOptions struct {
	// Recorded returns more files to scan, such as tokenfedproc.Recorded.
	Recorded func() []string
	// Done is called once the scan passed (tokenfedproc.RemoveRecorded).
	Done func() error
	// LogTo is called with the scanned log before the tests run, so that
	// other loggers (gRPC's) write there too.
	LogTo func(io.Writer)
}

// Main is a whole TestMain. It sends klog (the middleware's default
// logger, and client-go's) to a file at the highest verbosity, runs the
// tests, then fails the run if that file or any file opts.Recorded returns
// holds any part of a registered token.
func Main(m *testing.M, opts MainOptions) int {
	f, err := os.CreateTemp("", "authtest-log-")
	if err == nil {
		err = logTo(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "authtest: %v\n", err)
		return 1
	}
	if opts.LogTo != nil {
		opts.LogTo(f)
	}
	files := func() []string {
		if opts.Recorded == nil {
			return []string{f.Name()}
		}
		return append(opts.Recorded(), f.Name())
	}
	done := func() error {
		if opts.Done != nil {
			if err := opts.Done(); err != nil {
				return err
			}
		}
		return os.Remove(f.Name())
	}
	return secretscan.Main(m, files, done)
}

// logTo sends every klog line, at any verbosity, to f.
func logTo(f *os.File) error {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	if err := fs.Set("v", fmt.Sprint(maxVerbosity)); err != nil {
		return err
	}
	klog.SetLogger(funcr.New(func(prefix, args string) {
		fmt.Fprintln(f, prefix, args)
	}, funcr.Options{Verbosity: maxVerbosity}))
	return nil
}
