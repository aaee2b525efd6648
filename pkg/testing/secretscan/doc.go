// Package secretscan proves that no token reached a log or an answer.
// Tests register every token they make (the shared token sources do it for
// them: jwstest.Sign, controlplane's TokenRequest, tokenfedproc's client);
// after the run, every log line and recorded response body is scanned for
// each token's segments and for any MinMatch bytes of any token.
//
// It is for tests only: tokens are kept in memory for the life of the
// process.
//
// It is part of tokenfed's test harness (see pkg/testing/README.md), not
// product API: tokenfed's binary never imports it, and it may change
// with the tests that use it.
package secretscan
