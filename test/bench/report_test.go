package main

import (
	"strings"
	"testing"
	"time"
)

// row is a measured row with rps requests per second and cpu µs/review.
func row(name string, h2 bool, conc int, rps, cpu float64, pooled bool) result {
	return result{caseName: name, h2: h2, conc: conc, pooled: pooled, cpuUs: cpu,
		run: run{requests: int64(rps), elapsed: time.Second}}
}

// fullReport is a report with every row the targets read, at every
// protocol and concurrency: cached tokenfed at 50 µs against
// kube-apiserver's 500 (cached) and 700 (uncached), uncached tokenfed at
// 200 µs.
func fullReport() *report {
	r := &report{micro: &micro{values: map[string]float64{
		"BenchmarkRawRSAVerify ns/op": 36000, "BenchmarkVerifyRS256 ns/op": 45000,
		"BenchmarkRawECDSAVerify ns/op": 77000, "BenchmarkVerifyES256 ns/op": 100000,
		"BenchmarkBytesPerEntry unique-B/entry": 900,
	}}}
	for _, c := range combos {
		r.results = append(r.results,
			row("1 ceiling", c.h2, c.conc, 20000, 40, false),
			row("2 tokenfed, cached", c.h2, c.conc, 19000, 50, false),
			row("3a tokenfed, uncached RS256", c.h2, c.conc, 6000, 200, true),
			row("4a tokenfed, garbage tokens", c.h2, c.conc, 19000, 45, false),
			row("4b tokenfed, unknown issuer", c.h2, c.conc, 15000, 60, false),
			row("5 kube-apiserver", c.h2, c.conc, 2000, 500, false),
			row(kubeDistinctCase, c.h2, c.conc, 1500, 700, true),
		)
	}
	r.fill = &fillResult{
		points: []fillPoint{{1000, 50}, {51000, 90}, {101000, 130}, {151000, 170}, {201000, 210}},
	}
	for i, h2 := range []bool{false, true} {
		r.fill.empty[i] = row(cacheFillCase, h2, 16, 5000, 200, true)
		r.fill.full[i] = row(cacheFillCase, h2, 16, 5000, 215, true)
	}
	return r
}

func targetRow(t *testing.T, md, target string) string {
	t.Helper()
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| "+target) {
			return line
		}
	}
	t.Fatalf("no target line %q in:\n%s", target, md)
	return ""
}

func TestIssue14Targets(t *testing.T) {
	r := fullReport()
	r.issue14Targets()
	md := r.sb.String()
	for _, c := range []struct{ target, want string }{
		// 500/50 = 10: met at the bound.
		{"Cached review (2), server CPU", "10.0× (500 vs 50.0 µs)"},
		{"Cached review (2), server CPU", "| met |"},
		// 700/200 = 3.5.
		{"Uncached review (3a)", "3.5× (700 vs 200.0 µs)"},
		{"Uncached review (3a)", "| met |"},
		// 200 > 40 + 1.5 × 36.
		{"Uncached RS256 (3a)", "200 vs 94 µs"},
		{"Uncached RS256 (3a)", "**missed** (4 of 4)"},
		// 45/36 = 1.25.
		{"In-process RS256", "1.25×"},
		{"In-process RS256", "| met |"},
		// 4a 0.95 met, 4b 0.75 missed: 4 of 8.
		{"Garbage (4a) and unknown-issuer (4b)", "**missed** (4 of 8)"},
		{"Cached review (2) ≥ 0.9", "0.95×"},
		// (130-50) MiB over 100000 answers = 839 B.
		{"Cache memory (3f)", "839 B per token (RSS +80 MiB for 100000 answers)"},
		{"Cache memory (3f)", "| met |"},
		// 215/200 = 1.075: within 10%.
		{"Uncached cost as the cache fills (3f)", "HTTP/1.1 c=16 200 → 215 µs = 1.07×"},
		{"Uncached cost as the cache fills (3f)", "| met |"},
		{"HTTP/2: cached review (2)", "c=16 1.00×"},
	} {
		if line := targetRow(t, md, c.target); !strings.Contains(line, c.want) {
			t.Errorf("target %q: got %q, want it to contain %q", c.target, line, c.want)
		}
	}
}

func TestIssue14TargetsMissed(t *testing.T) {
	r := fullReport()
	// One value out of bounds per target flips it.
	r.results[1].cpuUs = 51                                 // 2, HTTP/1.1 c=16: 500/51 < 10
	r.results[2].cpuUs = 240                                // 3a, HTTP/1.1 c=16: 700/240 < 3
	r.fill.full[1].cpuUs = 179                              // HTTP/2: 179/200 < 0.9, flat means both ways
	r.fill.points[2] = fillPoint{entries: 101000, rss: 160} // 110 MiB / 100k > 1 KiB
	r.issue14Targets()
	md := r.sb.String()
	for _, target := range []string{"Cached review (2), server CPU", "Uncached review (3a)", "Uncached cost as the cache fills (3f)", "Cache memory (3f)"} {
		if line := targetRow(t, md, target); !strings.Contains(line, "**missed**") {
			t.Errorf("got %q, want missed", line)
		}
	}
}

// TestCPUBaseline: a row that sends each token once is compared with
// kube-apiserver's uncached row 5b, any other with its cached row 5; a
// row whose baseline did not run reads n/a, not 0.
func TestCPUBaseline(t *testing.T) {
	r := fullReport()
	r.table()
	md := r.sb.String()
	for name, want := range map[string]string{
		"2 tokenfed, cached":          "| 50.0 | 10.00 |",
		"3a tokenfed, uncached RS256": "| 200.0 | 3.50 |",
	} {
		if line := targetRow(t, md, name); !strings.Contains(line, want) {
			t.Errorf("%s: got %q, want it to contain %q", name, line, want)
		}
	}
	r = &report{results: []result{row("3a tokenfed, uncached RS256", false, 16, 6000, 200, true)}}
	r.table()
	if line := targetRow(t, r.sb.String(), "3a "); !strings.Contains(line, "| 200.0 | n/a |") {
		t.Errorf("without row 5b: got %q, want n/a", line)
	}
}
