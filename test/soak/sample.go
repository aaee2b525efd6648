package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// sample is tokenfed's state at one moment of the run.
type sample struct {
	at time.Duration // since the load started
	// rssMiB is VmRSS and fds the entries of /proc/<pid>/fd.
	rssMiB float64
	fds    float64
	// goroutines (go_goroutines) and heapInUseMiB
	// (go_memstats_heap_inuse_bytes) come from tokenfed's /metrics.
	goroutines   float64
	heapInUseMiB float64
	// heapGoalMiB (go_memstats_next_gc_bytes) is the heap size at which
	// the next GC starts: the live heap the last GC marked, times
	// 1+GOGC/100. It moves with live data only, not with garbage.
	heapGoalMiB float64
	// evictions is tokenfed_cache_evictions_total{cache="reviews"}: once it
	// rises, the cache is full.
	evictions float64
	// rate and p99 cover the requests answered since the previous sample,
	// and cpu is tokenfed's CPU over that time, in % of one core.
	rate float64
	p99  time.Duration
	cpu  float64
	// load is the machine's 1-minute load average, others' work included.
	load       float64
	unexpected int64 // unexpected answers so far, every class
	err        string
}

// Metric names read from /metrics.
const (
	goroutinesMetric = "go_goroutines"
	heapInUseMetric  = "go_memstats_heap_inuse_bytes"
	heapGoalMetric   = "go_memstats_next_gc_bytes"
	evictionsMetric  = `tokenfed_cache_evictions_total{cache="reviews"}`
	// requestsMetric is tokenfed's own count of answers, for the report.
	requestsMetric = "tokenfed_tokenreview_requests_total"
)

// scraper reads /proc and /metrics. It keeps one client, so that its
// connection is the same from sample to sample.
type scraper struct {
	e      *env
	client *http.Client
	// requests holds the requestsMetric lines of the last scrape.
	requests []string
	// cpuSeconds is tokenfed's CPU time at the previous sample.
	cpuSeconds float64
	// lastErr is the failure of the scrape after the load, if any.
	lastErr string
}

// observe runs the load and samples tokenfed every o.sampleEvery, and once
// more when the load ends. It returns an error only when ctx ended the run
// early (Ctrl-C): a partial run is not a soak.
func observe(ctx context.Context, e *env, l *load, o options) ([]sample, *scraper, error) {
	s := &scraper{e: e, client: &http.Client{Timeout: requestTimeout, Transport: &http.Transport{TLSClientConfig: e.tls.Clone(), ForceAttemptHTTP2: true}}}
	start := time.Now()
	last := start
	samples := []sample{s.sample(0, l, 0)}
	done := make(chan struct{})
	go func() { l.run(ctx); close(done) }()
	tick := time.NewTicker(o.sampleEvery)
	defer tick.Stop()
	halfProfiled := false
	for {
		select {
		case now := <-tick.C:
			samples = append(samples, s.sample(now.Sub(start), l, now.Sub(last)))
			last = now
			if !halfProfiled && now.Sub(start) >= o.duration/2 {
				s.heapProfile(o.heapProfiles, "heap-half.pb.gz")
				halfProfiled = true
			}
		case <-done:
			if ctx.Err() != nil {
				return nil, nil, fmt.Errorf("interrupted after %s: %w", time.Since(start).Round(time.Second), ctx.Err())
			}
			// The last tick and the end of the load may come together.
			if now := time.Now(); now.Sub(last) >= o.sampleEvery/2 {
				samples = append(samples, s.sample(now.Sub(start), l, now.Sub(last)))
			}
			s.heapProfile(o.heapProfiles, "heap-end.pb.gz")
			// tokenfed counts an answer as its handler returns, which may
			// be just after the client has read it: let the last ones land.
			time.Sleep(time.Second)
			if err := s.scrape(&sample{}); err != nil {
				s.lastErr = err.Error()
			}
			return samples, s, nil
		}
	}
}

// heapProfile saves tokenfed's heap profile, after a forced GC (gc=1), as
// dir/name; nothing when dir is "". A failure is printed, not fatal: the
// profiles are a diagnosis, not a measurement.
func (s *scraper) heapProfile(dir, name string) {
	if dir == "" {
		return
	}
	err := func() error {
		resp, err := s.client.Get(s.e.tokenfed.URL + "/debug/pprof/heap?gc=1")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, name), data, 0o644)
	}()
	if err != nil {
		say("heap profile %s: %v", name, err)
		return
	}
	say("heap profile written to %s", filepath.Join(dir, name))
}

// sample reads tokenfed's state at `at`; since is the time since the
// previous sample, over which the window's rate is computed.
func (s *scraper) sample(at time.Duration, l *load, since time.Duration) sample {
	n, p99 := l.window.take()
	out := sample{at: at, p99: p99, unexpected: l.unexpected()}
	if since > 0 {
		out.rate = float64(n) / since.Seconds()
	}
	var errs []string
	var err error
	if out.rssMiB, err = rssMiB(s.e.pid); err != nil {
		errs = append(errs, err.Error())
	}
	if cpu, err := cpuSeconds(s.e.pid); err != nil {
		errs = append(errs, err.Error())
	} else {
		if since > 0 {
			out.cpu = 100 * (cpu - s.cpuSeconds) / since.Seconds()
		}
		s.cpuSeconds = cpu
	}
	if out.load, err = loadAverage(); err != nil {
		errs = append(errs, err.Error())
	}
	fds, err := openFDs(s.e.pid)
	if err != nil {
		errs = append(errs, err.Error())
	}
	out.fds = float64(fds)
	if err := s.scrape(&out); err != nil {
		errs = append(errs, err.Error())
	}
	out.err = strings.Join(errs, "; ")
	fmt.Fprintf(os.Stderr, "  t=%4.0fs  RSS %6.1f MiB  goroutines %4.0f  fds %3.0f  heap in use %6.1f MiB  GC goal %6.1f MiB  evictions %7.0f  %5.0f req/s  p99 %7s  CPU %3.0f%%  load %5.2f  unexpected %d %s\n",
		at.Seconds(), out.rssMiB, out.goroutines, out.fds, out.heapInUseMiB, out.heapGoalMiB, out.evictions, out.rate, p99.Round(100*time.Microsecond), out.cpu, out.load, out.unexpected, out.err)
	return out
}

// scrape reads goroutines, heap and evictions from /metrics, as an
// authorised caller (the development client certificate).
func (s *scraper) scrape(out *sample) error {
	resp, err := s.client.Get(s.e.tokenfed.URL + "/metrics")
	if err != nil {
		return fmt.Errorf("/metrics: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("/metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/metrics: HTTP %d", resp.StatusCode)
	}
	m, requests := parseMetrics(string(data))
	s.requests = requests
	for name, dst := range map[string]*float64{goroutinesMetric: &out.goroutines, heapInUseMetric: &out.heapInUseMiB, heapGoalMetric: &out.heapGoalMiB, evictionsMetric: &out.evictions} {
		v, ok := m[name]
		if !ok {
			return fmt.Errorf("/metrics has no %s", name)
		}
		*dst = v
	}
	out.heapInUseMiB /= 1 << 20
	out.heapGoalMiB /= 1 << 20
	return nil
}

// parseMetrics reads the Prometheus text format's samples, keyed by name
// and labels as written ("name{a=\"b\"}"), and returns the lines of
// requestsMetric as they are.
func parseMetrics(text string) (map[string]float64, []string) {
	m := map[string]float64{}
	var requests []string
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
		if strings.HasPrefix(line, requestsMetric+"{") {
			requests = append(requests, line)
		}
	}
	return m, requests
}
