// Package klogtest captures klog's output in tests that check what
// tokenfed and the libraries it calls log at high verbosity.
//
// It is part of tokenfed's test harness (see pkg/testing/README.md), not
// product API: tokenfed's binary never imports it, and it may change
// with the tests that use it.
package klogtest
