// Package tokenfedproc runs tokenfed as a separate process for tests and the
// demo: it builds the binary once, writes certificates and a config, starts
// `tokenfed serve`, waits for readiness and stops it.
//
// It is part of tokenfed's test harness (see pkg/testing/README.md), not
// product API: tokenfed's binary never imports it, and it may change
// with the tests that use it.
package tokenfedproc
