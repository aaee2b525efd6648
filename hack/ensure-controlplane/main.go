// Command ensure-controlplane builds (or finds) the kube-apiserver and etcd
// binaries that tokenfed's tests and demo run, and prints their paths as
// environment assignments, so that
//
//	eval "$(go run ./hack/ensure-controlplane)"
//
// points later commands at them. Progress goes to stderr. `make controlplane`
// runs it from the repository root.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
)

func main() {
	os.Exit(run())
}

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := controlplane.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	bins, err := controlplane.EnsureBinaries(ctx, root, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("%s=%s\n%s=%s\n", controlplane.EnvKubeAPIServer, bins.KubeAPIServer, controlplane.EnvEtcd, bins.Etcd)
	return 0
}
