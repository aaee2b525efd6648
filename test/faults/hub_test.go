package faults

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
)

var (
	hubOnce sync.Once
	hubCP   *controlplane.ControlPlane
	hubErr  error
)

// sharedHub is one real kube-apiserver for the tests that need a
// well-behaved cluster, started once per test binary: it takes seconds,
// and those tests only read from it and add their own objects.
func sharedHub(t *testing.T) *controlplane.ControlPlane {
	t.Helper()
	hubOnce.Do(func() {
		dir, err := os.MkdirTemp("", "faults-hub-")
		if err != nil {
			hubErr = err
			return
		}
		hubCP, hubErr = controlplane.Start(context.Background(), controlplane.Options{Name: "hub", Dir: dir, Progress: os.Stderr})
		if hubErr == nil {
			hubErr = hubCP.AllowAnonymousIssuerDiscovery(context.Background())
		}
	})
	if hubErr != nil {
		t.Fatalf("starting the hub kube-apiserver: %v", hubErr)
	}
	return hubCP
}

// stopSharedHub stops the hub, if a test started it; TestMain calls it.
func stopSharedHub() {
	if hubCP != nil {
		hubCP.Stop()
		_ = os.RemoveAll(hubCP.Dir)
	}
}
