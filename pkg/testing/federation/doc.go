// Package federation brings up the local federation that `make run` shows
// and the end-to-end tests use: a "hub" control plane whose service
// accounts are trusted, tokenfed configured with the hub as an issuer, and
// a "member" control plane that uses tokenfed as its token webhook.
//
// It is part of tokenfed's test harness (see pkg/testing/README.md), not
// product API: tokenfed's binary never imports it, and it may change
// with the tests that use it.
package federation
