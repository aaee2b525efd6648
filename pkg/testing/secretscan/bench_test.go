package secretscan

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkScan: 1000 registered tokens over 8 MiB of log lines, about
// what one e2e run at -v=10 writes.
func BenchmarkScan(b *testing.B) {
	r := &Registry{}
	for range 1000 {
		r.Register(randomJWT(), "bench")
	}
	line := "I0101 12:00:00.000000 1 handler.go:130] \"Response\" code=200 body=\"{\\\"kind\\\":\\\"TokenReview\\\",\\\"status\\\":{\\\"authenticated\\\":true}}\"\n"
	path := filepath.Join(b.TempDir(), "big.log")
	if err := os.WriteFile(path, []byte(strings.Repeat(line, (8<<20)/len(line))), 0o600); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(8 << 20)
	for b.Loop() {
		if _, err := r.Scan([]string{path}); err != nil {
			b.Fatal(err)
		}
	}
}

func randomJWT() string {
	seg := func(n int) string {
		buf := make([]byte, n)
		_, _ = rand.Read(buf)
		return base64.RawURLEncoding.EncodeToString(buf)
	}
	return seg(80) + "." + seg(300) + "." + seg(256)
}
