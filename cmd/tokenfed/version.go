package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version and commit are set at build time by the Makefile, with -ldflags
// "-X main.version=... -X main.commit=..." (see hack/version.sh for how the
// version is chosen). A plain `go build` leaves them empty; the version is
// then "dev" and the commit is Go's own VCS stamp, if it made one.
var version, commit string

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  noArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			info, _ := debug.ReadBuildInfo()
			fmt.Fprintf(cmd.OutOrStdout(), "tokenfed %s (commit %s, %s, %s/%s, k8s.io/apiserver %s)\n",
				orDefault(version, "dev"), buildCommit(info), runtime.Version(), runtime.GOOS, runtime.GOARCH, moduleVersion(info, "k8s.io/apiserver"))
		},
	}
}

// buildCommit is the commit the Makefile injected or, for a `go build` in
// a git checkout (without -buildvcs=false), the one Go stamped, marked
// "+dirty" when the tree had changes.
func buildCommit(info *debug.BuildInfo) string {
	if commit != "" {
		return commit
	}
	if info == nil {
		return "unknown"
	}
	rev, dirty := "unknown", ""
	for _, s := range info.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "+dirty"
		}
	}
	return rev + dirty
}

func moduleVersion(info *debug.BuildInfo, path string) string {
	if info == nil {
		return "unknown"
	}
	for _, m := range info.Deps {
		if m.Path == path {
			return m.Version
		}
	}
	return "unknown"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
