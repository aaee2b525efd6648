package main

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"

	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// micro are the Go micro-benchmarks: verification against raw crypto, a
// cache hit, bytes per cache entry, the callers layer of a cached review,
// and revocation watch against policy never (verify path, cache hit).
type micro struct {
	values map[string]float64 // "BenchmarkX unit" -> value
	raw    string
}

var benchLine = regexp.MustCompile(`(?m)^(Benchmark[\w/,.-]+?)-\d+\s+\d+\s+(.*)$`)
var benchValue = regexp.MustCompile(`([\d.]+) ([\w/-]+)`)

func runMicro() (*micro, error) {
	m := &micro{values: map[string]float64{}}
	for _, args := range [][]string{
		{"test", "-run", "^$", "-bench", "^(BenchmarkVerifyRS256|BenchmarkRawRSAVerify|BenchmarkVerifyES256|BenchmarkRawECDSAVerify)$", "-benchtime", "2s", "-count", "3", "./pkg/authn/jwt/"},
		{"test", "-run", "^$", "-bench", "^BenchmarkCacheHit$", "-benchtime", "2s", "-count", "3", "./pkg/authn/cache/"},
		{"test", "-run", "^$", "-bench", "^BenchmarkBytesPerEntry$", "-benchtime", "1x", "./pkg/authn/cache/"},
		{"test", "-run", "^$", "-bench", "^BenchmarkCachedReview$", "-benchmem", "-benchtime", "1s", "-count", "3", "./pkg/callers/"},
		{"test", "-run", "^$", "-bench", "^(BenchmarkVerifyPath|BenchmarkChainCachedWatch)$", "-benchtime", "1s", "-count", "3", "./pkg/authn/"},
	} {
		cmd := exec.Command("go", args...)
		cmd.Dir = tokenfedproc.RepoRoot()
		out, err := cmd.CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("go %v: %w\n%s", args, err, out)
		}
		m.raw += string(out)
		m.parse(string(out))
	}
	return m, nil
}

// parse keeps the minimum of repeated runs: the least disturbed by noise.
func (m *micro) parse(out string) {
	for _, line := range benchLine.FindAllStringSubmatch(out, -1) {
		for _, v := range benchValue.FindAllStringSubmatch(line[2], -1) {
			f, _ := strconv.ParseFloat(v[1], 64)
			key := line[1] + " " + v[2]
			if old, ok := m.values[key]; !ok || f < old {
				m.values[key] = f
			}
		}
	}
}

func (m *micro) get(bench, unit string) float64 { return m.values[bench+" "+unit] }
