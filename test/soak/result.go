package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// minRateShare is the share of -rate the load must reach: below it the
// run did not measure what it claims (the machine is too busy, or answers
// too slow for -workers).
const minRateShare = 0.9

// result is everything the report states, computed once.
type result struct {
	o        options
	l        *load
	samples  []sample
	requests []string // tokenfed's own tokenreview_requests_total
	verdicts []verdict
	// achieved is requests sent per second of load.
	achieved float64
	sent     int64
	// failures are the reasons the run fails, besides verdicts.
	failures []string
	log      logSummary
	when     time.Time
	version  string
	// command is how this run was started.
	command string
	// counted is tokenfed's own count of answers (requestsMetric, all
	// labels), to set against what the soak sent.
	counted float64
}

func newResult(o options, e *env, l *load, samples []sample, s *scraper) *result {
	r := &result{o: o, l: l, samples: samples, requests: s.requests, when: time.Now().UTC(), version: tokenfedVersion(),
		command: strings.Join(append([]string{"go run ./test/soak"}, os.Args[1:]...), " ")}
	r.verdicts = append(judge(samples, 0, "whole run"), judge(samples, o.duration/2, "second half")...)
	if o.duration < minJudged {
		unjudgedRSS(r.verdicts)
	}
	for _, t := range l.tallies {
		sent, _ := t.counts()
		r.sent += sent
	}
	r.achieved = float64(r.sent) / l.end.Sub(l.start).Seconds()
	if r.achieved < minRateShare*o.rate {
		r.fail("the load reached %.0f req/s, below %.0f%% of the %.0f req/s asked for", r.achieved, 100*minRateShare, o.rate)
	}
	if u := l.unexpected(); u > 0 {
		r.fail("%d unexpected answers (see below)", u)
	}
	if s.lastErr != "" {
		r.fail("the scrape after the load: %s", s.lastErr)
	}
	for _, s := range samples {
		if s.err != "" {
			r.fail("sample at %s: %s", s.at.Round(time.Second), s.err)
		}
	}
	for _, v := range r.verdicts {
		if !v.pass {
			r.fail("%s slope over the %s: %.3f/min, bound %s", v.metric, v.span, v.slope, v.bound())
		}
	}
	r.counted = sumRequests(r.requests)
	r.log = summarizeLog(e.tokenfed.LogFile)
	if r.log.panics > 0 {
		r.fail("tokenfed's log has %d panic lines (first: %s)", r.log.panics, r.log.firstPanic)
	}
	return r
}

func (r *result) fail(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func (r *result) passed() bool { return len(r.failures) == 0 }

// sumRequests adds up the requestsMetric lines.
func sumRequests(lines []string) float64 {
	m, _ := parseMetrics(strings.Join(lines, "\n"))
	total := 0.0
	for _, v := range m {
		total += v
	}
	return total
}

// logSummary is what tokenfed logged during the run, at -v=0.
type logSummary struct {
	lines, errors, panics int
	firstError            string
	firstPanic            string
}

// summarizeLog counts tokenfed's log lines, its klog error lines (E...)
// and any line of a panic or fatal error.
func summarizeLog(path string) logSummary {
	var s logSummary
	f, err := os.Open(path)
	if err != nil {
		s.panics, s.firstPanic = 1, "log unreadable: "+err.Error()
		return s
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		s.lines++
		if isKlogError(line) {
			s.errors++
			if s.firstError == "" {
				s.firstError = truncate(line, 300)
			}
		}
		if strings.HasPrefix(line, "panic:") || strings.HasPrefix(line, "fatal error:") || strings.Contains(line, "Observed a panic") {
			s.panics++
			if s.firstPanic == "" {
				s.firstPanic = truncate(line, 300)
			}
		}
	}
	return s
}

// isKlogError: klog's text header is "Lmmdd hh:mm:ss.uuuuuu ...", L the
// severity, E for an error.
func isKlogError(line string) bool {
	return len(line) > 5 && line[0] == 'E' && strings.IndexFunc(line[1:5], func(r rune) bool { return r < '0' || r > '9' }) < 0
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// tokenfedVersion is what `tokenfed version` prints for the binary run.
func tokenfedVersion() string {
	bin, err := tokenfedproc.Binary()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return strings.TrimSpace(string(out))
}

// classStats are one class's figures for the report.
type classStats struct {
	name, what       string
	weight           int
	sent, unexpected int64
	p50, p99         time.Duration
	problems         map[string]int64
	examples         map[string]string
}

func (r *result) classStats() []classStats {
	var out []classStats
	for i, c := range r.l.classes {
		t := r.l.tallies[i]
		t.mu.Lock()
		lat := slices.Clone(t.lat)
		cs := classStats{name: c.name, what: c.what, weight: c.weight, sent: t.sent, problems: t.problems, examples: t.examples}
		t.mu.Unlock()
		slices.Sort(lat)
		cs.p50, cs.p99 = percentile(lat, 0.5), percentile(lat, 0.99)
		for _, n := range cs.problems {
			cs.unexpected += n
		}
		out = append(out, cs)
	}
	return out
}
