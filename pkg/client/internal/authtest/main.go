package authtest

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/go-logr/logr/funcr"
	"k8s.io/klog/v2"

	"github.com/tokenfed/tokenfed/pkg/testing/secretscan"
)

// maxVerbosity: everything the middleware and the libraries under it can
// log is written, so the scan reads all of it.
const maxVerbosity = 10

// Main is a whole TestMain. It sends klog (the middleware's default
// logger, and client-go's) to a file at the highest verbosity, runs the
// tests, then fails the run if that file or any file recorded returns
// holds any part of a registered token. recorded and done (called once the
// scan passed) may be nil.
func Main(m *testing.M, recorded func() []string, done func() error) int {
	f, err := os.CreateTemp("", "authtest-log-")
	if err == nil {
		err = logTo(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "authtest: %v\n", err)
		return 1
	}
	files := func() []string {
		if recorded == nil {
			return []string{f.Name()}
		}
		return append(recorded(), f.Name())
	}
	cleanup := func() error {
		if done != nil {
			if err := done(); err != nil {
				return err
			}
		}
		return os.Remove(f.Name())
	}
	return secretscan.Main(m, files, cleanup)
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
