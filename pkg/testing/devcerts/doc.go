// Package devcerts writes development certificates: a CA, a serving
// certificate for localhost/127.0.0.1 and a client certificate. They are for
// `make run` and tests only; production certificates come from cert-manager.
//
// It is part of tokenfed's test harness (see pkg/testing/README.md), not
// product API: tokenfed's binary never imports it, and it may change
// with the tests that use it.
package devcerts
