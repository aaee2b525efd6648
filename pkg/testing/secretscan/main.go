package secretscan

import (
	"flag"
	"fmt"
	"os"
	"testing"
)

// Main is a whole TestMain: it runs the tests, then checks the files that
// recorded returns against Default. It returns the tests' exit code, or 1
// when the check fails. done (which may remove the files) is called when
// the check passes: the files are kept only to show a leak.
func Main(m *testing.M, recorded func() []string, done func() error) int {
	code := m.Run()
	if listing() {
		return code
	}
	if !Default.Check(os.Stderr, recorded()) {
		return 1
	}
	if err := done(); err != nil {
		fmt.Fprintf(os.Stderr, "secretscan: removing recorded files: %v\n", err)
	}
	return code
}

// listing: `go test -list` runs nothing, so there is nothing to scan.
func listing() bool {
	f := flag.Lookup("test.list")
	return f != nil && f.Value.String() != ""
}
