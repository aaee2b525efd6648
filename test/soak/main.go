// Command soak is `make soak`: tokenfed under bounded, mixed load for a
// long run, watched for leaks (issue 15).
//
// It starts a real kube-apiserver (the hub, a service-account issuer) and
// the real tokenfed binary trusting two issuers: the hub, with upstream
// policy always (every token the hub issued is confirmed by the hub's own
// TokenReview), and a static issuer whose inline JWKS tokenfed trusts and
// whose tokens this program mints. It then sends a fixed rate of mixed
// reviews (cached, uncached, garbage, unknown issuer, upstream) for
// -duration, checking every answer, and samples tokenfed's RSS, goroutines,
// open file descriptors and heap every -sample. At the end it fits a
// least-squares line to each over the whole run and over its second half
// (after warm-up), checks the slopes against the bounds in verdict.go,
// writes test/soak/RESULTS.md and exits 1 when a bound is missed or any
// answer was not the expected one. A run shorter than minJudged ends in
// warm-up: its RSS is reported, not judged, and its report goes to
// bin/soak/RESULTS.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// options are the command's flags.
type options struct {
	duration    time.Duration
	rate        float64
	workers     int
	sampleEvery time.Duration
	// cacheEntries is tokenfed's cache.maxEntries; see defaultCacheEntries.
	cacheEntries int
	freshEvery   int
	out          string
	// heapProfiles, when set, is where heap profiles of the half and the
	// end are saved (go tool pprof -base heap-half.pb.gz heap-end.pb.gz).
	heapProfiles string
}

// defaultCacheEntries is small enough that the distinct tokens of this load
// fill the cache within the first half: the answers (uncached and
// upstream, 90 a second at the default rate, 10,800 within their 2-minute
// TTL) in under two minutes, after which eviction runs (746 evictions at
// 2 minutes in a 5-minute run). The failures (forged and expired tokens,
// about 13 a second with a 10 s TTL) stay at about 130 since expired
// entries are swept as new ones come in (pkg/authn/cache/shard.go,
// sweepPerSet). The second half then measures the steady state.
const defaultCacheEntries = 10000

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "how long the load runs")
	flag.Float64Var(&o.rate, "rate", 300, "requests per second, all classes together")
	flag.IntVar(&o.workers, "workers", 32, "most requests in flight at once")
	flag.DurationVar(&o.sampleEvery, "sample", 10*time.Second, "time between samples of tokenfed's RSS, goroutines, fds and heap")
	flag.IntVar(&o.cacheEntries, "cache-entries", defaultCacheEntries, "tokenfed's cache.maxEntries (its default is 100000)")
	flag.IntVar(&o.freshEvery, "fresh-every", 30, "every Nth request goes over a new HTTP/1.1 connection, closed after it; the others share one HTTP/2 connection")
	flag.StringVar(&o.heapProfiles, "heap-profiles", "", "directory for tokenfed's heap profiles at the half and at the end, to see what grew (go tool pprof -base DIR/heap-half.pb.gz DIR/heap-end.pb.gz)")
	flag.StringVar(&o.out, "out", "", "results file (default test/soak/RESULTS.md; bin/soak/RESULTS.md for a run shorter than 5m, so that a quick try does not replace the committed results)")
	flag.Parse()
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	if o.out == "" {
		o.out = defaultOut(o.duration)
	}
	if o.duration < minJudged {
		say("-duration %s is under %s: the load and every answer are checked, but the run ends in warm-up, so its RSS slopes are reported, not judged; results go to %s", o.duration, minJudged, o.out)
	}
	passed, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	if !passed {
		fmt.Fprintln(os.Stderr, "soak: FAIL (see", o.out+")")
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "soak: PASS")
}

func (o options) validate() error {
	switch {
	case o.duration < 4*o.sampleEvery:
		return fmt.Errorf("-duration %s is too short: the second half needs at least two samples of -sample %s", o.duration, o.sampleEvery)
	case o.rate <= 0 || o.workers <= 0 || o.freshEvery <= 0 || o.cacheEntries <= 0:
		return fmt.Errorf("-rate, -workers, -fresh-every and -cache-entries must be positive")
	}
	return nil
}

// defaultOut is where the results go without -out: the committed
// test/soak/RESULTS.md for a run long enough to be judged, bin/soak/ (not
// committed) for a shorter one.
func defaultOut(d time.Duration) string {
	if d < minJudged {
		return filepath.Join(tokenfedproc.RepoRoot(), "bin", "soak", "RESULTS.md")
	}
	return filepath.Join(tokenfedproc.RepoRoot(), "test", "soak", "RESULTS.md")
}

func say(format string, args ...any) { fmt.Fprintf(os.Stderr, "==> "+format+"\n", args...) }

// run sets everything up, runs the load while sampling, and writes the
// report. It returns whether every check passed; an error means the soak
// could not run (or was interrupted), and no report is written.
func run(o options) (bool, error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "tokenfed-soak-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	e, err := setup(ctx, dir, o)
	if err != nil {
		return false, err
	}
	defer e.stop()
	classes, err := newClasses(ctx, e)
	if err != nil {
		return false, err
	}
	l := newLoad(e, classes, o)
	say("preflight: one request of every kind, each answer checked")
	if err := l.preflight(); err != nil {
		return false, err
	}
	say("load: %.0f req/s for %s, %d workers; a sample every %s", o.rate, o.duration, o.workers, o.sampleEvery)
	samples, scraper, err := observe(ctx, e, l, o)
	if err != nil {
		return false, err
	}
	r := newResult(o, e, l, samples, scraper)
	md := r.markdown()
	fmt.Print(md)
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return false, err
	}
	if err := os.WriteFile(o.out, []byte(md), 0o644); err != nil {
		return false, err
	}
	say("wrote %s", o.out)
	return r.passed(), nil
}
