package main

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/klog/v2"
)

// TestServeEnablesContextualLogging: whatever the state before, once the
// serve flags are applied a logger in the context is the one klog (and so
// client-go) uses; the upstream client's silence depends on it.
//
// It runs in a child process: applying the flags replaces klog's global
// logger, which client-go goroutines left running by the review tests
// (certificate reloading) read, a data race in the test binary only;
// tokenfed serve applies them before anything starts.
func TestServeEnablesContextualLogging(t *testing.T) {
	if os.Getenv(serveLoggingChild) != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestServeEnablesContextualLogging$", "-test.count=1")
		cmd.Env = append(os.Environ(), serveLoggingChild+"=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("the test in its own process: %v\n%s", err, out)
		}
		return
	}
	klog.EnableContextualLogging(false)
	defer klog.EnableContextualLogging(true)
	o := &serveOptions{logging: logsapi.NewLoggingConfiguration()}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	o.addFlags(fs)
	if err := fs.Parse([]string{"-v=10", "--tls-cert-file=tls.crt", "--tls-private-key-file=tls.key", "--client-ca-file=ca.crt"}); err != nil {
		t.Fatal(err)
	}

	if _, err := o.complete(fs); err != nil {
		t.Fatalf("complete: %v", err)
	}

	ctx := logr.NewContext(context.Background(), logr.Discard())
	if sink := klog.FromContext(ctx).GetSink(); sink != nil {
		t.Fatalf("got klog.FromContext with sink %T, want the context's discarding logger", sink)
	}
}

// serveLoggingChild marks the child process of
// TestServeEnablesContextualLogging.
const serveLoggingChild = "TOKENFED_TEST_SERVE_LOGGING_CHILD"
