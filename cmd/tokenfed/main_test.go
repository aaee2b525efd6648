package main

import (
	"fmt"
	"os"
	"testing"

	"github.com/tokenfed/tokenfed/pkg/testing/secretscan"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// TestMain runs the tests, then scans the log of every tokenfed the review
// tests started (at -v=10) for every token they minted. A run that started
// none (the serve tests alone) has nothing to scan.
func TestMain(m *testing.M) {
	code := m.Run()
	recorded := tokenfedproc.Recorded()
	if len(recorded) == 0 {
		os.Exit(code)
	}
	if !secretscan.Default.Check(os.Stderr, recorded) {
		os.Exit(1)
	}
	if err := tokenfedproc.RemoveRecorded(); err != nil {
		fmt.Fprintf(os.Stderr, "secretscan: removing recorded files: %v\n", err)
	}
	os.Exit(code)
}
