// Command tokenfed is a TokenReview webhook server that federates
// Kubernetes authentication across clusters and apps.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"
)

func main() {
	os.Exit(run(newRootCommand()))
}

// exitError ends the process with a chosen code. Any other error exits
// with 1. err is printed like any error; a nil err means the command has
// already said what it had to (tokenfed review's "not authenticated").
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// run executes cmd and turns its error into the exit code. Errors are
// printed here, once, and nowhere else.
func run(cmd *cobra.Command) int {
	defer klog.Flush()
	err := cmd.Execute()
	if err == nil {
		return 0
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
		if ee.err == nil {
			return code
		}
	}
	cmd.PrintErrln("Error:", err)
	return code
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "tokenfed",
		Short:         "A TokenReview webhook that federates Kubernetes authentication",
		SilenceUsage:  true,
		SilenceErrors: true,
		// Args and a RunE of its own, so that cobra's "unknown command
		// %q" (which would print a token given without a command) is
		// never reached: see args.go.
		Args:                       rootArgs,
		RunE:                       func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		SuggestionsMinimumDistance: 2,
	}
	// Inherited by every command that sets none of its own.
	root.SetFlagErrorFunc(flagError)
	root.AddCommand(
		newServeCommand(),
		newConfigCommand(),
		newReviewCommand(),
		newVersionCommand(),
		newWebhookKubeconfigCommand(),
	)
	return root
}
