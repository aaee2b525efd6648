// Command tokenfed is a TokenReview webhook server that federates
// Kubernetes authentication across clusters and apps.
package main

import (
	"os"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"
)

func main() {
	os.Exit(run(newRootCommand()))
}

// run executes cmd and turns its error into the exit code. Errors are
// printed here, once, and nowhere else.
func run(cmd *cobra.Command) int {
	defer klog.Flush()
	if err := cmd.Execute(); err != nil {
		cmd.PrintErrln("Error:", err)
		return 1
	}
	return 0
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "tokenfed",
		Short:         "A TokenReview webhook that federates Kubernetes authentication",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCommand(), newConfigCommand(), newVersionCommand(), newWebhookKubeconfigCommand())
	return root
}
