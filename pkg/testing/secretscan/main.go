package secretscan

import (
	"flag"
	"fmt"
	"os"
	"testing"
)

// Main is a whole TestMain: it runs the tests, then checks the files that
// recorded returns against Default, and calls done (which may remove
// them) only when they held no token. It returns the exit code.
func Main(m *testing.M, recorded func() []string, done func() error) int {
	code := m.Run()
	if listing() {
		return code
	}
	code = Default.Check(os.Stderr, code, recorded())
	if code == 0 {
		if err := done(); err != nil {
			fmt.Fprintf(os.Stderr, "secretscan: removing recorded files: %v\n", err)
		}
	}
	return code
}

// listing: `go test -list` runs nothing, so there is nothing to scan.
func listing() bool {
	f := flag.Lookup("test.list")
	return f != nil && f.Value.String() != ""
}
