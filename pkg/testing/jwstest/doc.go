// Package jwstest signs tokens for tests: any payload bytes, any headers,
// so tests can build the tokens no honest issuer would. It also hands out
// the keys tests share (generated once per test binary) and their JWKS.
//
// It is part of tokenfed's test harness (see pkg/testing/README.md), not
// product API: tokenfed's binary never imports it, and it may change
// with the tests that use it.
package jwstest
