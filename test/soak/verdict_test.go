package main

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestLeastSquaresExactLine(t *testing.T) {
	xs := []float64{0, 1, 2, 3, 4}
	ys := []float64{3, 5, 7, 9, 11}
	f := leastSquares(xs, ys)
	if math.Abs(f.slope-2) > 1e-12 || f.se > 1e-12 || f.n != 5 {
		t.Fatalf("got slope %v ± %v over %d points, want 2 ± 0 over 5", f.slope, f.se, f.n)
	}
}

func TestLeastSquaresNoiseWidensSE(t *testing.T) {
	xs := []float64{0, 1, 2, 3, 4, 5}
	ys := []float64{10, 12, 10, 12, 10, 12}
	f := leastSquares(xs, ys)
	// By hand: Sxy 3, Sxx 17.5, residuals 6 - 3²/17.5, n-2 = 4.
	slope, se := 3/17.5, math.Sqrt((6-9/17.5)/4/17.5)
	if math.Abs(f.slope-slope) > 1e-9 || math.Abs(f.se-se) > 1e-9 {
		t.Fatalf("got slope %v ± %v, want %v ± %v", f.slope, f.se, slope, se)
	}
}

func TestLeastSquaresTooFewPoints(t *testing.T) {
	for _, xs := range [][]float64{nil, {1}, {2, 2, 2}} {
		ys := make([]float64, len(xs))
		if f := leastSquares(xs, ys); !math.IsInf(f.se, 1) {
			t.Errorf("%v: got SE %v, want +Inf (no slope can be told)", xs, f.se)
		}
	}
}

// tenMinutes builds a 10-minute run sampled every 10 s whose metrics are set by
// minute.
func tenMinutes(rss, goroutines, fds func(min float64) float64) []sample {
	var out []sample
	for at := time.Duration(0); at <= 10*time.Minute; at += 10 * time.Second {
		m := at.Minutes()
		out = append(out, sample{at: at, rssMiB: rss(m), goroutines: goroutines(m), fds: fds(m)})
	}
	return out
}

func verdictOf(t *testing.T, vs []verdict, metric string) verdict {
	t.Helper()
	for _, v := range vs {
		if v.metric == metric {
			return v
		}
	}
	t.Fatalf("no verdict for %s", metric)
	return verdict{}
}

func TestJudgeFlatRunWithNoisePasses(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	samples := tenMinutes(
		// Warm-up: RSS climbs 50 MiB in two minutes, then GC noise of ±2 MiB.
		func(m float64) float64 { return 50 + 25*min(m, 2) + 4*rng.Float64() - 2 },
		func(float64) float64 { return 31 + float64(rng.IntN(5)) - 2 },
		func(float64) float64 { return 16 + float64(rng.IntN(3)) - 1 },
	)
	for _, span := range []struct {
		from time.Duration
		name string
	}{{0, "whole run"}, {5 * time.Minute, "second half"}} {
		for _, v := range judge(samples, span.from, span.name) {
			if !v.pass {
				t.Errorf("%s %s: slope %.3f ± %.3f failed %s, want pass", span.name, v.metric, v.slope, v.se, v.bound())
			}
		}
	}
}

func TestJudgeCatchesSlowLeaks(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	samples := tenMinutes(
		// 1.5 MiB/min: passes the whole-run bound, not the second half's.
		func(m float64) float64 { return 80 + 1.5*m + 2*rng.Float64() - 1 },
		// Two goroutines and two fds a minute, over noise of ±2 and ±1:
		// what the second half's five minutes can tell from noise.
		func(m float64) float64 { return 31 + 2*m + float64(rng.IntN(5)) - 2 },
		func(m float64) float64 { return 16 + 2*m + float64(rng.IntN(3)) - 1 },
	)
	whole, second := judge(samples, 0, "whole run"), judge(samples, 5*time.Minute, "second half")
	if v := verdictOf(t, whole, "RSS"); !v.pass {
		t.Errorf("whole-run RSS at 1.5 MiB/min: failed %s, want pass (the bound allows warm-up)", v.bound())
	}
	if v := verdictOf(t, second, "RSS"); v.pass {
		t.Errorf("second-half RSS at 1.5 MiB/min (fit %.3f): passed, want fail", v.slope)
	}
	for _, vs := range [][]verdict{whole, second} {
		for _, metric := range []string{"goroutines", "open fds"} {
			if v := verdictOf(t, vs, metric); v.pass {
				t.Errorf("%s %s rising 2/min (fit %.3f ± %.3f): passed %s, want fail", v.span, metric, v.slope, v.se, v.bound())
			}
		}
	}
}

func TestJudgeWholeRunCatchesOnePerMinute(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	samples := tenMinutes(
		func(float64) float64 { return 80 },
		func(m float64) float64 { return 31 + m + float64(rng.IntN(5)) - 2 },
		func(m float64) float64 { return 16 + m + float64(rng.IntN(3)) - 1 },
	)
	for _, metric := range []string{"goroutines", "open fds"} {
		if v := verdictOf(t, judge(samples, 0, "whole run"), metric); v.pass {
			t.Errorf("whole-run %s rising 1/min (fit %.3f ± %.3f): passed %s, want fail", metric, v.slope, v.se, v.bound())
		}
	}
}

func TestJudgeNeedsThreeSamples(t *testing.T) {
	samples := []sample{{at: 0}, {at: 9 * time.Minute}}
	for _, v := range judge(samples, 0, "whole run") {
		if v.pass && !v.info {
			t.Errorf("%s from two samples: passed, want fail", v.metric)
		}
	}
}

func TestJudgeSkipsFailedSamples(t *testing.T) {
	samples := tenMinutes(func(float64) float64 { return 50 }, func(float64) float64 { return 30 }, func(float64) float64 { return 16 })
	// A sample whose scrape failed reads zeros; it must not bend the fit.
	samples[len(samples)-1] = sample{at: samples[len(samples)-1].at, err: "/metrics: HTTP 500"}
	for _, v := range judge(samples, 0, "whole run") {
		if !v.pass || v.slope != 0 {
			t.Errorf("%s: slope %v pass %v, want 0 and pass", v.metric, v.slope, v.pass)
		}
	}
}

// A run shorter than minJudged ends in warm-up: its RSS climb is reported,
// not failed, while a goroutine leak still fails it.
func TestShortRunReportsRSSButJudgesGoroutines(t *testing.T) {
	var samples []sample
	for at := time.Duration(0); at <= time.Minute; at += 10 * time.Second {
		m := at.Minutes()
		samples = append(samples, sample{at: at, rssMiB: 46 + 11*m, goroutines: 31 + 30*m, fds: 16})
	}
	vs := append(judge(samples, 0, "whole run"), judge(samples, 30*time.Second, "second half")...)
	if v := verdictOf(t, vs, "RSS"); v.pass {
		t.Fatalf("RSS +11 MiB/min judged: passed %s, want fail before unjudgedRSS", v.bound())
	}
	unjudgedRSS(vs)
	for _, v := range vs {
		switch v.metric {
		case "RSS":
			if !v.pass || !v.info || v.bound() != "none: a run under 5m0s ends in warm-up" {
				t.Errorf("%s RSS: pass %v info %v bound %q, want reported only, saying why", v.span, v.pass, v.info, v.bound())
			}
		case "goroutines":
			if v.pass {
				t.Errorf("%s goroutines +30/min: passed %s, want fail", v.span, v.bound())
			}
		}
	}
}
