// Package fakeapiserver is kube-apiserver's TokenReview endpoint on the
// wire, over real TLS, answering as each test says: for the upstream
// cases a real kube-apiserver (pkg/testing/controlplane) cannot be made to
// produce on purpose, such as a 500, a 429 with Retry-After, an answer that
// quotes the token, a hang, or an answer for audiences nobody asked for.
// Tests that need a cluster to behave like a cluster use controlplane.
//
// It is part of tokenfed's test harness (see pkg/testing/README.md), not
// product API: tokenfed's binary never imports it, and it may change
// with the tests that use it.
package fakeapiserver
