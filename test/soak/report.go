package main

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"
)

// markdown renders RESULTS.md. Every figure is computed from this run; a
// missed bound is printed as missed.
func (r *result) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# Soak results")
	w("")
	w("Written by `%s` (`make soak` runs it with `-duration $(SOAKTIME)`, 10m by default), %s.", r.command, r.when.Format("2006-01-02 15:04 MST"))
	w("tokenfed: `%s`.", r.version)
	w("Machine: %s, %d cores, shared with other work while this ran: the load, tokenfed, kube-apiserver and etcd", cpuModel(), runtime.NumCPU())
	w("all run on it, and so did other jobs (1-minute load average %.1f on average, %.1f at most; tokenfed itself used %.0f%% of one core on average).",
		r.meanOf(func(s sample) float64 { return s.load }), r.maxOf(func(s sample) float64 { return s.load }), r.meanOf(func(s sample) float64 { return s.cpu }))
	w("")
	if r.passed() {
		w("**Verdict: PASS.** Every answer was the expected one and every slope is within its bound.")
		if r.o.duration < minJudged {
			w("RSS was not judged: a run under %s ends in warm-up (`make soak` runs 10m).", minJudged)
		}
	} else {
		w("**Verdict: FAIL.**")
		w("")
		for _, f := range r.failures {
			w("- %s", f)
		}
	}
	w("")
	r.loadSection(w)
	r.slopeSection(w)
	r.rangeSection(w)
	r.sampleSection(w)
	r.unexpectedSection(w)
	r.tokenfedSection(w)
	return b.String()
}

type writer func(format string, args ...any)

func (r *result) loadSection(w writer) {
	w("## Load")
	w("")
	w("- %.0f req/s asked for, %.1f req/s reached: %d requests in %s, at most %d in flight.",
		r.o.rate, r.achieved, r.sent, r.l.end.Sub(r.l.start).Round(time.Second), r.o.workers)
	w("- Every %dth request on a new HTTP/1.1 connection, closed after it (%d connections); the rest over one HTTP/2 connection.",
		r.o.freshEvery, r.l.freshSent.Load())
	w("- API versions in turn: v1 and v1beta1 on their API paths, v1beta1 on `/authenticate` (kube-apiserver's default).")
	w("- tokenfed (`-v=0`): issuer `hub`, the kube-apiserver started here, with upstream policy `always`; issuer `static`, inline JWKS (ES256).")
	w("  `cache.maxEntries` %d (default 100000), so that the cache fills during the first half; other settings default.", r.o.cacheEntries)
	w("")
	total := 0
	for _, c := range r.l.classes {
		total += c.weight
	}
	w("| class | share | sends | requests | unexpected | p50 | p99 |")
	w("|---|---:|---|---:|---:|---:|---:|")
	for _, c := range r.classStats() {
		w("| %s | %.0f%% | %s | %d | %d | %s | %s |", c.name, 100*float64(c.weight)/float64(total), c.what, c.sent, c.unexpected,
			c.p50.Round(10*time.Microsecond), c.p99.Round(10*time.Microsecond))
	}
	w("")
}

func (r *result) slopeSection(w writer) {
	w("## Slopes")
	w("")
	warmup := "after warm-up"
	if r.o.duration < minJudged {
		warmup = fmt.Sprintf("still warm-up in a run under %s, so RSS is not judged", minJudged)
	}
	w("Least-squares fit over every sample of the span (the second half starts at %s, %s), per minute, ± one standard error.", r.o.duration/2, warmup)
	w("")
	w("| metric | span | samples | slope /min | ± SE | bound | verdict |")
	w("|---|---|---:|---:|---:|---|---|")
	for _, v := range r.verdicts {
		verdict := "pass"
		if v.info {
			verdict = "—"
		}
		if !v.pass {
			verdict = "**FAIL**"
		}
		w("| %s | %s | %d | %+.3f | %.3f | %s | %s |", v.metric, v.span, v.n, v.slope, v.se, v.bound(), verdict)
	}
	w("")
}

func (r *result) rangeSection(w writer) {
	w("## Start and end")
	w("")
	w("| metric | start | at %s | end | min | max |", r.o.duration/2)
	w("|---|---:|---:|---:|---:|---:|")
	mid := r.sampleAt(r.o.duration / 2)
	for _, m := range []struct {
		name  string
		value func(sample) float64
	}{
		{"RSS (MiB)", func(s sample) float64 { return s.rssMiB }},
		{"goroutines", func(s sample) float64 { return s.goroutines }},
		{"open fds", func(s sample) float64 { return s.fds }},
		{"heap in use (MiB)", func(s sample) float64 { return s.heapInUseMiB }},
		{"GC heap goal (MiB)", func(s sample) float64 { return s.heapGoalMiB }},
		{"cache evictions", func(s sample) float64 { return s.evictions }},
	} {
		vals := make([]float64, len(r.samples))
		for i, s := range r.samples {
			vals[i] = m.value(s)
		}
		w("| %s | %.1f | %.1f | %.1f | %.1f | %.1f |", m.name, vals[0], m.value(mid), vals[len(vals)-1], slices.Min(vals), slices.Max(vals))
	}
	w("")
}

// meanOf and maxOf are over the samples after the first, which has no
// window before it.
func (r *result) meanOf(value func(sample) float64) float64 {
	total := 0.0
	for _, s := range r.samples[1:] {
		total += value(s)
	}
	return total / float64(max(1, len(r.samples)-1))
}

func (r *result) maxOf(value func(sample) float64) float64 {
	m := 0.0
	for _, s := range r.samples[1:] {
		m = max(m, value(s))
	}
	return m
}

// sampleAt is the first sample at or after at.
func (r *result) sampleAt(at time.Duration) sample {
	for _, s := range r.samples {
		if s.at >= at {
			return s
		}
	}
	return r.samples[len(r.samples)-1]
}

// sampleSection lists a sample a minute (all are in the slopes), and the
// last one.
func (r *result) sampleSection(w writer) {
	w("## Samples")
	w("")
	w("One a minute of the %d taken (every %s); req/s and p99 cover the %s before each.", len(r.samples), r.o.sampleEvery, r.o.sampleEvery)
	w("")
	w("| t | RSS MiB | goroutines | fds | heap in use MiB | GC goal MiB | cache evictions | req/s | p99 | tokenfed CPU | load avg | unexpected |")
	w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	next := time.Duration(0)
	for i, s := range r.samples {
		if s.at < next && i != len(r.samples)-1 {
			continue
		}
		next = s.at.Truncate(time.Minute) + time.Minute
		w("| %s | %.1f | %.0f | %.0f | %.1f | %.1f | %.0f | %.0f | %s | %.0f%% | %.2f | %d |", s.at.Round(time.Second), s.rssMiB, s.goroutines, s.fds,
			s.heapInUseMiB, s.heapGoalMiB, s.evictions, s.rate, s.p99.Round(100*time.Microsecond), s.cpu, s.load, s.unexpected)
	}
	w("")
}

func (r *result) unexpectedSection(w writer) {
	w("## Unexpected answers")
	w("")
	if r.l.unexpected() == 0 {
		w("None: every answer had the expected status code, apiVersion and kind, `authenticated` value, user and extras, and none held its token.")
		w("")
		return
	}
	w("| class | reason | count | first |")
	w("|---|---|---:|---|")
	for _, c := range r.classStats() {
		reasons := make([]string, 0, len(c.problems))
		for reason := range c.problems {
			reasons = append(reasons, reason)
		}
		slices.Sort(reasons)
		for _, reason := range reasons {
			w("| %s | %s | %d | %s |", c.name, reason, c.problems[reason], strings.ReplaceAll(c.examples[reason], "|", `\|`))
		}
	}
	w("")
}

func (r *result) tokenfedSection(w writer) {
	w("## tokenfed's own figures")
	w("")
	w("Its log: %d lines, %d at error level, %d of a panic.", r.log.lines, r.log.errors, r.log.panics)
	if r.log.firstError != "" {
		w("The first error line: `%s`", r.log.firstError)
	}
	w("")
	w("`tokenfed_tokenreview_requests_total` at the end: %.0f answers counted by tokenfed, for %d requests sent (%d of the preflight and %d of the load).",
		r.counted, r.l.preflightSent+r.sent, r.l.preflightSent, r.sent)
	w("")
	w("```")
	for _, line := range r.requests {
		w("%s", line)
	}
	w("```")
}
