package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// Case 3f answers two targets of issue 14: an uncached review must cost
// the same ("flat within 10% from an empty cache to 200k entries"), and a
// cached answer must stay small ("≤ 1 KiB of RSS growth per cached token
// at 100k tokens, identity included"), measured as the process's RSS, not
// its heap.
//
// Two fresh tokenfeds with the same configuration: one is filled with
// fillEntries answers, the other is not. Then both take uncached RS256
// reviews, taking turns as the cached cases do (measureTogether), so the
// empty and the full cache are compared over the same seconds of a shared
// machine, not a minute apart.
//
// The fill tokens are ES256 (the edge issuer, static keys): signing one
// costs ~25 µs against ~1 ms for RS256, so 200k of them are minted in
// seconds on two cores. Their cache entries have the same shape as the
// hub's (a service-account user, prefixed, with its extras); only the
// measured reviews must be RS256, and both tokenfeds get those.
const (
	cacheFillCase = "3f tokenfed, uncached RS256 as the cache fills (each token once)"
	// fillEntries answers are put in the cache, fillBatch at a time, with
	// a progress line and an RSS reading after each batch.
	fillEntries, fillBatch = 200000, 50000
	// fillConc keeps the filled tokenfed busy while it fills.
	fillConc = 32
	// fillWarmup uncached RS256 reviews go to both tokenfeds first: the
	// RSS baseline is a process that has served uncached reviews (buffers,
	// pools and heap goal grown for them), not an idle one.
	fillWarmup = 1000
	// fillMeasuredConc is the concurrency of the measured runs.
	fillMeasuredConc = 16
	// fillSuccessTTL outlives the row (the default 2 m does not, quite),
	// so no answer expires while it runs.
	fillSuccessTTL = 30 * time.Minute
)

// fillPoint is the filled tokenfed at one moment.
type fillPoint struct {
	entries int     // authenticated answers in its cache
	rss     float64 // MiB
}

// fillResult is what case 3f measured.
type fillResult struct {
	// points: after the warm-up (the baseline), then after each batch.
	points []fillPoint
	// fillTime is the fill itself, minting included.
	fillTime time.Duration
	// emptyAtStart and fullAtStart are the answers each tokenfed held
	// when the measured runs began.
	emptyAtStart, fullAtStart int
	// empty and full are the measured rows: [0] HTTP/1.1, [1] HTTP/2.
	empty, full [2]result
}

// perToken is the RSS growth per cached answer from the baseline to
// points[i], in bytes.
func (f *fillResult) perToken(i int) float64 {
	base, p := f.points[0], f.points[i]
	if p.entries <= base.entries {
		return 0
	}
	return (p.rss - base.rss) * (1 << 20) / float64(p.entries-base.entries)
}

// pointAt is the index of the first point at least n answers above the
// baseline (the last point if none is).
func (f *fillResult) pointAt(n int) int {
	for i, p := range f.points {
		if p.entries-f.points[0].entries >= n {
			return i
		}
	}
	return len(f.points) - 1
}

// measureCacheFill runs case 3f and keeps its outcome in e.fill; the rows
// it returns go into the table with the other cases.
func (e *env) measureCacheFill(ctx context.Context, rsPool [][]byte, d time.Duration) ([]result, error) {
	say("%s: starting two fresh tokenfeds, one to fill, one left empty", cacheFillCase[:2])
	cfg := benchConfig(e.hub, e.edgeJWKS)
	cfg.Cache.SuccessTTL.Duration = fillSuccessTTL
	var procs [2]*tokenfedproc.Process
	names := [2]string{"tokenfed-empty", "tokenfed-fill"}
	for i, name := range names {
		p, err := e.launchTokenfed(ctx, mkdir(e.dir, name), cfg)
		if err != nil {
			return nil, err
		}
		defer p.Stop() // now: their memory and CPU are not the next cases'
		if e.pids[name], err = pidListening("serve --config " + p.ConfigFile); err != nil {
			return nil, err
		}
		defer delete(e.pids, name)
		procs[i] = p
	}
	emptyTF, fullTF := procs[0], procs[1]
	var cs [2]*benchCase
	for i, p := range procs {
		cs[i] = &benchCase{name: cacheFillCase, url: p.URL + "/apis/authentication.k8s.io/v1/tokenreviews", tls: p.TLSConfig(),
			bodies: pooled(rsPool), server: []string{names[i]}, pooled: true, next: new(atomic.Int64)}
		if err := warmUp(cs[i], p); err != nil {
			return nil, err
		}
	}
	base, err := fillPointOf(fullTF, e.pids[names[1]])
	if err != nil {
		return nil, err
	}
	f := &fillResult{points: []fillPoint{base}}
	if err := e.fillCache(ctx, fullTF, e.pids[names[1]], f); err != nil {
		return nil, err
	}
	if f.emptyAtStart, err = cachedAnswers(emptyTF); err != nil {
		return nil, err
	}
	f.fullAtStart = f.points[len(f.points)-1].entries
	d = min(d, uncachedRunCap)
	for i, h2 := range []bool{false, true} {
		rs, err := e.measureChecked(cs[:], procs[:], h2, d)
		if err != nil {
			return nil, err
		}
		rs[0].variant = "empty cache"
		rs[1].variant = fmt.Sprintf("%dk answers cached", fillEntries/1000)
		f.empty[i], f.full[i] = rs[0], rs[1]
		for _, r := range rs {
			say("%s, %-20s %-8s c=%-3d %8.0f req/s  %6.1f µs CPU/review  p99 %s %s", r.caseName[:2], r.variant, proto(h2), r.conc, r.rps(), r.cpuUs, r.p99.Round(time.Microsecond), r.firstErr)
		}
	}
	e.fill = f
	return []result{f.empty[0], f.full[0], f.empty[1], f.full[1]}, nil
}

// warmUp sends fillWarmup of c's tokens to p and checks that every one
// was authenticated.
func warmUp(c *benchCase, p *tokenfedproc.Process) error {
	t := c.target()
	t.bodies = firstN(t.bodies, fillWarmup)
	cl := client(t, false, fillMeasuredConc)
	defer cl.CloseIdleConnections()
	r := loadWith(cl, t, fillMeasuredConc, time.Hour, c.next)
	if r.errors+r.non200 > 0 {
		return fmt.Errorf("%s: warm-up: %d errors, first: %s", cacheFillCase, r.errors+r.non200, r.firstErr)
	}
	n, err := cachedAnswers(p)
	if err != nil {
		return err
	}
	if n != fillWarmup {
		return fmt.Errorf("%s: warm-up: tokenfed holds %d answers after %d valid tokens, want %d (refused or evicted?)", cacheFillCase, n, fillWarmup, fillWarmup)
	}
	return nil
}

// fillCache reviews fillEntries distinct valid ES256 tokens once each on
// p, a batch at a time, recording p's answers and RSS after each batch.
func (e *env) fillCache(ctx context.Context, p *tokenfedproc.Process, pid int, f *fillResult) error {
	start := time.Now()
	t := target{url: p.URL + "/apis/authentication.k8s.io/v1/tokenreviews", tls: p.TLSConfig()}
	c := client(t, false, fillConc)
	defer c.CloseIdleConnections()
	for filled := 0; filled < fillEntries; filled += fillBatch {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		tokens, err := e.es.mintMany(fillBatch, edgeIssuer)
		if err != nil {
			return err
		}
		t.bodies = pooled(bodiesOf(tokens))
		// The load client's first body is the one after next's value: -1
		// sends all of them, from index 0.
		next := new(atomic.Int64)
		next.Store(-1)
		r := loadWith(c, t, fillConc, time.Hour, next)
		if r.errors+r.non200 > 0 {
			return fmt.Errorf("%s: fill: %d errors, first: %s", cacheFillCase, r.errors+r.non200, r.firstErr)
		}
		pt, err := fillPointOf(p, pid)
		if err != nil {
			return err
		}
		if want := f.points[0].entries + filled + fillBatch; pt.entries != want {
			return fmt.Errorf("%s: fill: tokenfed holds %d answers, want %d (fill tokens refused or evicted?)", cacheFillCase, pt.entries, want)
		}
		f.points = append(f.points, pt)
		say("cache fill: %d answers cached, tokenfed RSS %.0f MiB (%.0f B per cached token since the warm-up), %s",
			pt.entries, pt.rss, f.perToken(len(f.points)-1), time.Since(start).Round(time.Second))
	}
	f.fillTime = time.Since(start)
	return nil
}

// measureChecked measures cs (one case per process of procs) taking turns
// at one protocol, and checks that every review was an authenticated,
// uncached one: each must have added exactly one answer to its cache.
func (e *env) measureChecked(cs []*benchCase, procs []*tokenfedproc.Process, h2 bool, d time.Duration) ([]result, error) {
	before := make([]int, len(procs))
	for i, p := range procs {
		n, err := cachedAnswers(p)
		if err != nil {
			return nil, err
		}
		before[i] = n
	}
	rs, err := e.measureTogether(cs, h2, fillMeasuredConc, d, togetherSlices)
	if err != nil {
		return nil, err
	}
	for i, p := range procs {
		n, err := cachedAnswers(p)
		if err != nil {
			return nil, err
		}
		if got := int64(n - before[i]); got != rs[i].requests {
			return nil, fmt.Errorf("%s (%s): %d reviews added %d answers to the cache, want one each (refused or evicted?)", cacheFillCase, cs[i].server[0], rs[i].requests, got)
		}
	}
	return rs, nil
}

// firstN is src limited to its first n bodies.
func firstN(src bodySource, n int64) bodySource {
	return func(i int64) ([]byte, bool) {
		if i > n {
			return nil, false
		}
		return src(i)
	}
}

// fillPointOf reads p's answers and RSS; pid is p's.
func fillPointOf(p *tokenfedproc.Process, pid int) (fillPoint, error) {
	n, err := cachedAnswers(p)
	if err != nil {
		return fillPoint{}, err
	}
	return fillPoint{entries: n, rss: rssMiB(pid)}, nil
}

var (
	authenticatedTotal = regexp.MustCompile(`(?m)^tokenfed_authentications_total\{issuer="[^"]*",outcome="authenticated"\} (\S+)$`)
	evictionsTotal     = regexp.MustCompile(`(?m)^tokenfed_cache_evictions_total\{cache="reviews"\} (\S+)$`)
)

// cachedAnswers is how many authenticated answers p's review cache holds,
// from its metrics: uncached authentications that succeeded (each one is
// stored) less evictions. Nothing expires during the row (fillSuccessTTL).
func cachedAnswers(p *tokenfedproc.Process) (int, error) {
	resp, err := p.Client().Get(p.URL + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s/metrics: got HTTP %d, want 200", p.URL, resp.StatusCode)
	}
	// No line at all before the first authentication (a metric vector
	// without children is not exported): 0, which the checks after the
	// warm-up and each batch turn into an error if it stays so.
	total := 0.0
	for _, m := range authenticatedTotal.FindAllSubmatch(data, -1) {
		v, err := strconv.ParseFloat(string(m[1]), 64)
		if err != nil {
			return 0, fmt.Errorf("tokenfed_authentications_total: %w", err)
		}
		total += v
	}
	if m := evictionsTotal.FindSubmatch(data); m != nil {
		v, err := strconv.ParseFloat(string(m[1]), 64)
		if err != nil {
			return 0, fmt.Errorf("tokenfed_cache_evictions_total: %w", err)
		}
		total -= v
	}
	return int(total), nil
}
