package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/klog/v2"
)

// serveChildEnv marks the process TestServeEnablesContextualLogging runs
// itself in.
const serveChildEnv = "TOKENFED_TEST_SERVE_LOGGING_CHILD"

// TestServeEnablesContextualLogging: whatever the state before, once the
// serve flags are applied a logger in the context is the one klog (and so
// client-go) uses; the upstream client's silence depends on it.
//
// Applying them sets klog's global logger (klog.SetLoggerWithOptions),
// which is not safe while other goroutines log: client-go's certificate
// rotation of the review tests logs when it stops, at a time of its own,
// and the race detector catches it. So the test runs in a process of its
// own, this test binary again.
func TestServeEnablesContextualLogging(t *testing.T) {
	if os.Getenv(serveChildEnv) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestServeEnablesContextualLogging$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), serveChildEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestServeEnablesContextualLogging") {
			t.Fatalf("in a process of its own: %v\n%s", err, out)
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

// TestServeHelpSaysItReloads: `tokenfed serve --help` tells an operator
// that the file is applied without a restart, what a refused file does,
// and how to check one first.
func TestServeHelpSaysItReloads(t *testing.T) {
	_, stdout, _ := runCLI(t, "serve", "--help")
	for _, want := range []string{"SIGHUP", "last good", "tokenfed_config_last_reload_successful", "next restart", "tokenfed config validate"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("tokenfed serve --help lacks %q:\n%s", want, stdout)
		}
	}
}
