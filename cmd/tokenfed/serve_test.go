package main

import (
	"context"
	"testing"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/klog/v2"
)

// TestServeEnablesContextualLogging: whatever the state before, once the
// serve flags are applied a logger in the context is the one klog (and so
// client-go) uses; the upstream client's silence depends on it.
func TestServeEnablesContextualLogging(t *testing.T) {
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
