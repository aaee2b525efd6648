// Command bench is `make bench`: tokenfed side by side with a trivial HTTPS
// handler (the ceiling), kube-apiserver's own TokenReview and kubectl
// proxy, all measured in one run with one load client. It prints a
// markdown table and writes it to test/bench/RESULTS.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

func main() {
	echo := flag.String("echo", "", "internal: serve the ceiling handler on this address")
	echoCert := flag.String("echo-cert", "", "internal")
	echoKey := flag.String("echo-key", "", "internal")
	duration := flag.Duration("duration", 3*time.Second, "length of each measured run")
	profileCase := flag.String("profile", "", "case-name prefix (e.g. \"2 \") to CPU-profile tokenfed during its HTTP/2 c=16 run")
	only := flag.String("only", "", "comma-separated case-name prefixes to run (for profiling); the results file is not written")
	out := flag.String("out", filepath.Join(tokenfedproc.RepoRoot(), "test", "bench", "RESULTS.md"), "results file")
	pool := flag.Int("pool", 100000, "distinct RS256 and ES256 tokens minted for the uncached cases; fewer for a quick -only run (runs that run dry stop early)")
	flag.Parse()
	if *echo != "" {
		exitOn(serveEcho(*echo, *echoCert, *echoKey))
		return
	}
	if *pool < 10*fillWarmup {
		exitOn(fmt.Errorf("-pool %d: want at least %d (case 3f warms up on %d tokens)", *pool, 10*fillWarmup, fillWarmup))
	}
	exitOn(runBench(options{d: *duration, out: *out, profileCase: *profileCase, only: *only, pool: *pool}))
}

// options are the flags of a bench run.
type options struct {
	d                      time.Duration // each measured run
	out, profileCase, only string
	pool                   int // distinct tokens per algorithm
}

func exitOn(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func say(format string, args ...any) { fmt.Fprintf(os.Stderr, "==> "+format+"\n", args...) }

func runBench(o options) error {
	d, out, only := o.d, o.out, o.only
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dir, err := os.MkdirTemp("", "tokenfed-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	e, err := setup(ctx, dir)
	if err != nil {
		return err
	}
	defer e.stop()
	r := &report{}
	if r.results, err = e.measureAll(ctx, o); err != nil {
		return err
	}
	r.fill = e.fill
	if only != "" {
		// Some cases only: their table is printed, the results file is kept.
		r.table()
		r.fillSection()
		fmt.Print(r.sb.String())
		return nil
	}
	say("key-kid storm (%s with and %s without)", d*2, d*2)
	valid, _ := e.rs.mint(e.hub.IssuerURL)
	if r.storm, err = e.keyKidStorm(reviewBody(valid), 2*d); err != nil {
		return err
	}
	say("Go micro-benchmarks")
	if r.micro, err = runMicro(); err != nil {
		return err
	}
	md := r.render(d)
	fmt.Print(md)
	return os.WriteFile(out, []byte(md), 0o644)
}

// measureAll runs every case at both protocols and both concurrencies.
func (e *env) measureAll(ctx context.Context, o options) ([]result, error) {
	d, profileCase, only := o.d, o.profileCase, o.only
	// Enough distinct tokens (100k by default) that uncached runs rarely
	// run dry.
	poolSize := o.pool
	say("minting %d RS256 and %d ES256 service-account tokens", poolSize, poolSize)
	rs, err := e.rs.mintMany(poolSize, e.hub.IssuerURL)
	if err != nil {
		return nil, err
	}
	es, err := e.es.mintMany(poolSize, edgeIssuer)
	if err != nil {
		return nil, err
	}
	if selected(certCallerCase, only) || selected(bearerCallerCase, only) {
		if err := e.checkCallers(rs[0], es[0]); err != nil {
			return nil, err
		}
	}
	if selected(kubeDistinctCase, only) {
		if err := e.checkMinted(rs[0]); err != nil {
			return nil, err
		}
	}
	var cases []*benchCase
	shared := map[string]*atomic.Int64{}
	for _, c := range e.cases(bodiesOf(rs), bodiesOf(es), bodiesOf(rs[:1])[0]) {
		if selected(c.name, only) {
			c.next = new(atomic.Int64)
			if c.onceAt != "" {
				if shared[c.onceAt] == nil {
					shared[c.onceAt] = c.next
				}
				c.next = shared[c.onceAt]
			}
			cases = append(cases, &c)
		}
	}
	var together, alone []*benchCase
	for _, c := range cases {
		if c.backToBack {
			together = append(together, c)
		} else {
			alone = append(alone, c)
		}
	}
	var results []result
	for _, h2 := range []bool{false, true} {
		for _, conc := range []int{16, 64} {
			rs, err := e.measureRun(ctx, together, h2, conc, d, profileCase)
			if err != nil {
				return nil, err
			}
			results = append(results, rs...)
		}
	}
	for _, c := range alone {
		if c.custom != nil {
			rs, err := c.custom(ctx, d)
			if err != nil {
				return nil, err
			}
			results = append(results, rs...)
			continue
		}
		for _, h2 := range []bool{false, true} {
			for _, conc := range []int{16, 64} {
				rs, err := e.measureRun(ctx, []*benchCase{c}, h2, conc, d, profileCase)
				if err != nil {
					return nil, err
				}
				results = append(results, rs...)
			}
		}
	}
	// The table lists each case's runs together, in the order of cases.
	order := map[string]int{}
	for i, c := range cases {
		order[c.name] = i
	}
	slices.SortStableFunc(results, func(a, b result) int { return order[a.caseName] - order[b.caseName] })
	return results, nil
}

// measureRun measures cs at one protocol and concurrency: one case alone,
// or the ceiling and the cached cases taking turns (measureTogether), so
// that their ratios compare runs over the same seconds, not runs minutes
// apart: on a shared machine other work comes and goes in between. A
// profile, when asked for, covers the whole run.
func (e *env) measureRun(ctx context.Context, cs []*benchCase, h2 bool, conc int, d time.Duration, profileCase string) ([]result, error) {
	var run []*benchCase
	for _, c := range cs {
		if !(h2 && c.noH2) {
			run = append(run, c)
		}
	}
	if len(run) == 0 {
		return nil, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	var prof chan error
	for _, c := range run {
		if profileCase != "" && strings.HasPrefix(c.name, profileCase) && h2 && conc == 16 {
			prof = e.profile(e.process(c.server[0]), time.Duration(len(run))*c.duration(d), filepath.Join(os.TempDir(), "tokenfed-cpu.pprof"))
		}
	}
	var rs []result
	var err error
	if len(run) == 1 {
		var r result
		r, err = e.measure(run[0], h2, conc, run[0].duration(d))
		rs = []result{r}
	} else {
		rs, err = e.measureTogether(run, h2, conc, d, togetherSlices)
	}
	if prof != nil {
		if perr := <-prof; perr != nil {
			return nil, perr
		}
	}
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		say("%-55s %-8s c=%-3d %8.0f req/s  %6.1f µs CPU/review  p99 %s %s", r.caseName, proto(h2), conc, r.rps(), r.cpuUs, r.p99.Round(time.Microsecond), r.firstErr)
	}
	return rs, nil
}

// process is the tokenfed a case is charged to, for its profile; the
// local-verification one when the case's server is not a tokenfed.
func (e *env) process(server string) *tokenfedproc.Process {
	switch server {
	case "tokenfed-upstream":
		return e.upstreamTF
	case "tokenfed-callers":
		return e.callersTF
	case "tokenfed-watch":
		return e.watchTF
	}
	return e.tokenfed
}

// profile fetches a CPU profile of p covering most of a run.
func (e *env) profile(p *tokenfedproc.Process, d time.Duration, path string) chan error {
	done := make(chan error, 1)
	go func() {
		secs := max(1, int(d.Seconds())-1)
		resp, err := p.Client().Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", p.URL, secs))
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			done <- fmt.Errorf("CPU profile: got HTTP %d, want 200", resp.StatusCode)
			return
		}
		f, err := os.Create(path)
		if err != nil {
			done <- err
			return
		}
		defer f.Close()
		_, err = io.Copy(f, resp.Body)
		say("CPU profile written to %s (go tool pprof -top %s)", path, path)
		done <- err
	}()
	return done
}

func selected(name, only string) bool {
	if only == "" {
		return true
	}
	for _, p := range strings.Split(only, ",") {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
