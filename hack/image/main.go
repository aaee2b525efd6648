// Command image assembles tokenfed's container image from binaries that
// `make image` cross-compiled, without Docker and without a base image:
// every file in it is written here. It writes an OCI image layout (one
// index over every platform; push it with crane or skopeo) and, per
// platform, a docker-archive tarball for `docker load` or `kind load
// image-archive`.
//
// The same inputs give the same bytes, so the same digests: file times,
// the creation time and the labels all come from the commit, never from
// the clock.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	opts, out, err := parseFlags(args)
	if err != nil {
		return err
	}
	start := time.Now()
	digest, err := build(opts, out)
	if err != nil {
		return err
	}
	fmt.Printf("image: %s:%s written in %s\n  OCI layout %s (index %s)\n", opts.Repository, opts.Version, time.Since(start).Round(time.Millisecond), out.Layout, digest)
	for _, a := range out.Archives {
		fmt.Printf("  docker archive %s\n", a)
	}
	return nil
}

// outputs are where build writes.
type outputs struct {
	// Layout is the OCI image layout directory; it is replaced whole.
	Layout string
	// ArchiveDir, if set, receives image-<os>-<arch>.tar per platform.
	ArchiveDir string
	// Archives are the archive paths build wrote.
	Archives []string
}

func parseFlags(args []string) (options, *outputs, error) {
	var o options
	out := &outputs{}
	var epoch string
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.StringVar(&o.Version, "version", "", "version the binaries were built as; also the image tag (required)")
	fs.StringVar(&o.Revision, "revision", "", "commit the binaries were built from (required)")
	fs.StringVar(&epoch, "source-date-epoch", "", "creation time, seconds since 1970: the commit time, for reproducible images (required)")
	fs.StringVar(&o.Source, "source", "https://github.com/tokenfed/tokenfed", "source repository URL, for the org.opencontainers.image.source label")
	fs.StringVar(&o.Repository, "repository", "ghcr.io/tokenfed/tokenfed", "image repository the docker archives are tagged with")
	fs.StringVar(&out.Layout, "out", "bin/image", "OCI image layout directory to (re)write")
	fs.StringVar(&out.ArchiveDir, "archive-dir", "", "directory for the docker-archive tarballs; empty writes none")
	fs.Func("binary", "os/arch=path of a tokenfed binary built for that platform; repeat per platform (required)", func(v string) error {
		p, err := parseBinaryFlag(v)
		o.Binaries = append(o.Binaries, p)
		return err
	})
	if err := fs.Parse(args); err != nil {
		return o, nil, err
	}
	if o.Version == "" || o.Revision == "" || epoch == "" || len(o.Binaries) == 0 {
		return o, nil, fmt.Errorf("--version, --revision, --source-date-epoch and --binary are required (run through `make image`)")
	}
	secs, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return o, nil, fmt.Errorf("--source-date-epoch %q: %w", epoch, err)
	}
	o.Created = time.Unix(secs, 0).UTC()
	return o, out, nil
}

func parseBinaryFlag(v string) (platformBinary, error) {
	plat, path, ok := strings.Cut(v, "=")
	osName, arch, ok2 := strings.Cut(plat, "/")
	if !ok || !ok2 || path == "" || osName == "" || arch == "" {
		return platformBinary{}, fmt.Errorf("want os/arch=path, got %q", v)
	}
	return platformBinary{OS: osName, Arch: arch, Path: path}, nil
}
