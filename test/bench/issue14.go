package main

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// combos are the protocol and concurrency pairs of every load run, in the
// order a figure of four values lists them.
var combos = []struct {
	h2   bool
	conc int
}{{false, 16}, {false, 64}, {true, 16}, {true, 64}}

// figure is one measured value of a target and whether it meets it.
type figure struct {
	text string
	ok   bool
}

// targetLine writes one target, its figures joined by " / ", met only if
// every figure meets it.
func (r *report) targetLine(target string, figs []figure, note string) {
	texts := make([]string, len(figs))
	missed := 0
	for i, f := range figs {
		texts[i] = f.text
		if !f.ok {
			missed++
		}
	}
	verdict := "met"
	if len(figs) == 0 {
		verdict = "**missed** (not measured)"
	} else if missed > 0 {
		verdict = fmt.Sprintf("**missed** (%d of %d)", missed, len(figs))
	}
	fmt.Fprintf(&r.sb, "| %s | %s%s | %s |\n", target, strings.Join(texts, " / "), note, verdict)
}

// perCombo applies f to every protocol and concurrency.
func perCombo(f func(h2 bool, conc int) figure) []figure {
	out := make([]figure, len(combos))
	for i, c := range combos {
		out[i] = f(c.h2, c.conc)
	}
	return out
}

// times is a ratio as "1.23×"; "n/a" when it is not a number (a row that
// was not measured).
func times(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", x)
}

// issue14Targets is the headline: one line per target of issue 14, each
// computed from this run.
func (r *report) issue14Targets() {
	r.sb.WriteString("## Targets (issue 14)\n\nA figure with four values is HTTP/1.1 c=16 / c=64 / HTTP/2 c=16 / c=64; a target is met only if every value meets it.\n\n| target | figure | verdict |\n|---|---|---|\n")
	rawUs := r.micro.get("BenchmarkRawRSAVerify", "ns/op") / 1000
	r.targetLine("Uncached RS256 (3a), server CPU per review ≤ ceiling CPU + 1.5 × raw verify", perCombo(func(h2 bool, conc int) figure {
		u, _ := r.find("3a ", h2, conc)
		ceil, _ := r.find("1 ", h2, conc)
		budget := ceil.cpuUs + 1.5*rawUs
		return figure{fmt.Sprintf("%.0f vs %.0f µs", u.cpuUs, budget), u.cpuUs <= budget}
	}), fmt.Sprintf(" (raw verify %.1f µs)", rawUs))
	verify, raw := r.micro.get("BenchmarkVerifyRS256", "ns/op"), r.micro.get("BenchmarkRawRSAVerify", "ns/op")
	r.targetLine("In-process RS256 verification ≤ 1.3 × raw crypto/rsa", []figure{
		{fmt.Sprintf("%.1f vs %.1f µs = %s", verify/1000, raw/1000, times(verify/raw)), verify <= 1.3*raw},
	}, "")
	var rejections []figure
	for _, p := range []string{"4a ", "4b "} {
		rejections = append(rejections, perCombo(func(h2 bool, conc int) figure { return r.vsCeiling(p, h2, conc, 0.9) })...)
	}
	r.targetLine("Garbage (4a) and unknown-issuer (4b) rejections ≥ 0.9 × ceiling, HTTP/1.1 and HTTP/2", rejections, " (4a, then 4b)")
	r.targetLine("Cached review (2) ≥ 0.9 × ceiling, HTTP/1.1 and HTTP/2", perCombo(func(h2 bool, conc int) figure { return r.vsCeiling("2 ", h2, conc, 0.9) }), "")
	r.targetLine("Cached review (2), server CPU ≥ 10 × less than kube-apiserver's TokenReview (5)", perCombo(func(h2 bool, conc int) figure {
		return r.cpuVsKube("2 ", "5 ", h2, conc, 10)
	}), "")
	r.targetLine("Uncached review (3a), server CPU ≥ 3 × less than kube-apiserver's with distinct tokens (5b)", perCombo(func(h2 bool, conc int) figure {
		return r.cpuVsKube("3a ", "5b ", h2, conc, 3)
	}), "")
	r.fillTargets()
	var h2 []figure
	var ceilings []string
	for _, conc := range []int{16, 64} {
		c1, _ := r.find("2 ", false, conc)
		c2, _ := r.find("2 ", true, conc)
		x := c2.rps() / c1.rps()
		h2 = append(h2, figure{fmt.Sprintf("c=%d %s", conc, times(x)), x >= 0.9})
		e1, _ := r.find("1 ", false, conc)
		e2, _ := r.find("1 ", true, conc)
		ceilings = append(ceilings, times(e2.rps()/e1.rps()))
	}
	r.targetLine("HTTP/2: cached review (2) over HTTP/2 ≥ 0.9 × the same over HTTP/1.1", h2, fmt.Sprintf(" (the ceiling's own: %s)", strings.Join(ceilings, " / ")))
	r.sb.WriteString("\n")
}

// vsCeiling is a case's throughput over the ceiling's, against min.
func (r *report) vsCeiling(prefix string, h2 bool, conc int, min float64) figure {
	c, _ := r.find(prefix, h2, conc)
	ceil, _ := r.find("1 ", h2, conc)
	x := c.rps() / ceil.rps()
	return figure{times(x), x >= min}
}

// cpuVsKube is how many times less server CPU per review a case takes
// than kube-apiserver's row kube, against min.
func (r *report) cpuVsKube(prefix, kube string, h2 bool, conc int, min float64) figure {
	c, ok := r.find(prefix, h2, conc)
	k, kok := r.find(kube, h2, conc)
	if !ok || !kok || c.cpuUs == 0 {
		return figure{"n/a", false}
	}
	x := k.cpuUs / c.cpuUs
	return figure{fmt.Sprintf("%.1f× (%.0f vs %.1f µs)", x, k.cpuUs, c.cpuUs), x >= min}
}

// fillTargets are case 3f's two targets: RSS per cached token at 100k,
// and uncached CPU from an empty to a full cache.
func (r *report) fillTargets() {
	const memTarget = "Cache memory (3f): ≤ 1 KiB of RSS growth per cached token at 100k tokens, identity included"
	const flatTarget = "Uncached cost as the cache fills (3f): CPU per review flat within 10% from an empty cache to 200k entries"
	f := r.fill
	if f == nil {
		r.targetLine(memTarget, nil, "")
		r.targetLine(flatTarget, nil, "")
		return
	}
	i := f.pointAt(100000)
	at := f.points[i]
	last := len(f.points) - 1
	b := f.perToken(i)
	r.targetLine(memTarget, []figure{{fmt.Sprintf("%.0f B per token (RSS +%.0f MiB for %d answers)", b, at.rss-f.points[0].rss, at.entries-f.points[0].entries), b <= 1024}},
		fmt.Sprintf("; %.0f B at %d", f.perToken(last), f.points[last].entries-f.points[0].entries))
	var flat []figure
	for i := range f.empty {
		x := f.full[i].cpuUs / f.empty[i].cpuUs
		flat = append(flat, figure{fmt.Sprintf("%s c=%d %.0f → %.0f µs = %s", proto(f.full[i].h2), f.full[i].conc, f.empty[i].cpuUs, f.full[i].cpuUs, times(x)), math.Abs(x-1) <= 0.10})
	}
	r.targetLine(flatTarget, flat, "")
}

// fillSection is case 3f's detail: the cache and RSS as it filled, and
// CPU per uncached review on the empty and the full cache.
func (r *report) fillSection() {
	f := r.fill
	if f == nil {
		return
	}
	fmt.Fprintf(&r.sb, "## Cache fill (3f)\n\nTwo fresh tokenfeds with one configuration (successTTL %s, so nothing expires during the row). Both first took %d uncached RS256 reviews (the RSS baseline is a process that has done the work, not an idle one); then one was filled with %d distinct valid ES256 service-account tokens of the edge issuer (ES256 because minting 200k RS256 tokens would take minutes; the entries have the same shape: a prefixed service-account user with its extras), each reviewed once at HTTP/1.1 c=%d, in %s, minting included. Answers cached are read from tokenfed's metrics (authenticated uncached reviews less evictions) and checked after every batch.\n\n",
		fillSuccessTTL, fillWarmup, fillEntries, fillConc, f.fillTime.Round(time.Second))
	r.sb.WriteString("| answers cached | tokenfed RSS MiB | RSS growth per cached token since the baseline |\n|---:|---:|---:|\n")
	for i, p := range f.points {
		growth := "baseline"
		if i > 0 {
			growth = fmt.Sprintf("%.0f B", f.perToken(i))
		}
		fmt.Fprintf(&r.sb, "| %d | %.0f | %s |\n", p.entries, p.rss, growth)
	}
	fmt.Fprintf(&r.sb, "\nThen both took uncached RS256 reviews (each token once, c=%d), taking turns in %d slices per protocol; the empty one held %d answers when they started, the full one %d. Every measured review added exactly one answer to its cache (checked).\n\n", fillMeasuredConc, togetherSlices, f.emptyAtStart, f.fullAtStart)
	r.sb.WriteString("| protocol | empty cache, CPU µs/review | full cache, CPU µs/review | full ÷ empty | req/s empty / full |\n|---|---:|---:|---:|---:|\n")
	for i := range f.empty {
		e, u := f.empty[i], f.full[i]
		fmt.Fprintf(&r.sb, "| %s | %.1f | %.1f | %s | %.0f / %.0f |\n", proto(e.h2), e.cpuUs, u.cpuUs, ratio(u.cpuUs, e.cpuUs), e.rps(), u.rps())
	}
	r.sb.WriteString("\n")
}
