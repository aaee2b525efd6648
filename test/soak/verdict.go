package main

import (
	"fmt"
	"math"
	"time"
)

// fit is a least-squares line through samples, per minute.
type fit struct {
	slope float64
	// se is the slope's standard error: how far noise alone moves it.
	se float64
	n  int
}

// leastSquares fits y = a + slope·x. With fewer than three points the
// standard error is unknown and reported as +Inf.
func leastSquares(xs, ys []float64) fit {
	n := len(xs)
	if n < 2 {
		return fit{n: n, se: math.Inf(1)}
	}
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx /= float64(n)
	my /= float64(n)
	var sxx, sxy float64
	for i := range xs {
		sxx += (xs[i] - mx) * (xs[i] - mx)
		sxy += (xs[i] - mx) * (ys[i] - my)
	}
	if sxx == 0 {
		return fit{n: n, se: math.Inf(1)}
	}
	f := fit{slope: sxy / sxx, n: n, se: math.Inf(1)}
	if n > 2 {
		var rss float64
		for i := range xs {
			r := ys[i] - (my + f.slope*(xs[i]-mx))
			rss += r * r
		}
		f.se = math.Sqrt(rss / float64(n-2) / sxx)
	}
	return f
}

// rule is the bound on one metric's slope, per minute.
type rule struct {
	metric, unit string
	value        func(sample) float64
	// max is the largest slope allowed. For a flat rule, |slope| may be
	// up to max plus noiseSE standard errors: the metric must not trend
	// either way beyond its own noise; otherwise (RSS) the slope is only
	// bounded above, as memory given back is no leak.
	max  float64
	flat bool
	// info rules have no bound: their slope is reported, not judged.
	info bool
	// note, for an info rule, says why it has no bound.
	note string
}

// noiseSE is how many standard errors of noise a flat rule allows: a
// slope within 3 of 0 is not told apart from no trend.
const noiseSE = 3

// Bounds. RSS after warm-up: below 1 MiB/min (issue 15's figure; at that
// rate a leak adds 1.4 GiB a day). Over the whole run RSS may climb more:
// its first minutes (at the default rate and cache size) are warm-up, the
// cache filling to maxEntries, 20 to 30 MiB of heap here, and the GC's
// headroom over it, a rise of about 40 MiB whose least-squares slope over
// ten minutes is 2 to 3 MiB/min (2.2 to 2.6 measured). The whole-run
// bound, 10 MiB/min, leaves room for a warm-up up to about four times
// that: it catches only a gross leak, the second half a slow one. Goroutines and fds must be flat from the start: a small absolute
// allowance plus noise.
func rules(secondHalf bool) []rule {
	rssMax := 10.0
	if secondHalf {
		rssMax = 1
	}
	return []rule{
		{metric: "RSS", unit: "MiB", value: func(s sample) float64 { return s.rssMiB }, max: rssMax},
		{metric: "goroutines", value: func(s sample) float64 { return s.goroutines }, max: 0.5, flat: true},
		{metric: "open fds", value: func(s sample) float64 { return s.fds }, max: 0.2, flat: true},
		// The Go heap rises and falls with each GC cycle; its trend says
		// whether RSS follows live data or only the collector's peaks.
		{metric: "heap in use", unit: "MiB", value: func(s sample) float64 { return s.heapInUseMiB }, info: true},
		{metric: "GC heap goal", unit: "MiB", value: func(s sample) float64 { return s.heapGoalMiB }, info: true},
	}
}

// verdict is one rule applied to one span of the run.
type verdict struct {
	rule
	span string
	fit
	limit float64 // the bound this fit was held to
	pass  bool
}

// judge applies every rule to the samples taken at or after from.
func judge(samples []sample, from time.Duration, span string) []verdict {
	var out []verdict
	for _, r := range rules(from > 0) {
		var xs, ys []float64
		for _, s := range samples {
			if s.at >= from && s.err == "" {
				xs = append(xs, s.at.Minutes())
				ys = append(ys, r.value(s))
			}
		}
		f := leastSquares(xs, ys)
		v := verdict{rule: r, span: span, fit: f, limit: r.max}
		switch {
		case r.info:
			v.pass = true
			out = append(out, v)
			continue
		case r.flat:
			v.limit = r.max + noiseSE*f.se
			v.pass = math.Abs(f.slope) <= v.limit
		default:
			v.pass = f.slope < r.max
		}
		if f.n < 3 {
			v.pass = false
		}
		out = append(out, v)
	}
	return out
}

// bound renders the bound a verdict was held to.
func (v verdict) bound() string {
	unit := v.unit
	if unit != "" {
		unit = " " + unit
	}
	if v.info && v.note != "" {
		return v.note
	}
	if v.info {
		return "none (reported only)"
	}
	if v.flat {
		return fmt.Sprintf("within ±(%.2f + 3 SE) = ±%.2f%s/min", v.max, v.limit, unit)
	}
	return fmt.Sprintf("slope < %.1f%s/min", v.max, unit)
}

// minJudged is the shortest run whose RSS slopes are judged. At the default
// rate and cache size the first two minutes are warm-up (the cache filling,
// the heap growing to its GC target: RSS +37 MiB in the 10-minute run of
// docs/reliability.md), so in a shorter run the second half is still
// warm-up and its RSS slope says nothing about a leak: a 1-minute run
// measured +8.9 MiB/min there, against the bound of 1. From 5 minutes the
// second half starts after the warm-up: a 5-minute run (load average 9.9)
// measured +2.79 MiB/min over the whole run and +0.20 over the second
// half, and passed. Goroutines and fds are judged at any length.
const minJudged = 5 * time.Minute

// unjudgedRSS makes the RSS verdicts of a run shorter than minJudged
// reported only, saying why.
func unjudgedRSS(vs []verdict) {
	for i := range vs {
		if vs[i].metric == "RSS" {
			vs[i].info, vs[i].pass = true, true
			vs[i].note = fmt.Sprintf("none: a run under %s ends in warm-up", minJudged)
		}
	}
}
