// Package controlplane runs real control planes (etcd + kube-apiserver) on
// loopback for tokenfed's tests and demo.
//
// The binaries are built from pinned Go modules (hack/controlplane/*) rather
// than downloaded, so the only thing a machine needs is the Go module proxy.
// EnsureBinaries builds them once per pin; Start runs one control plane with
// its own CA, service-account signing key and issuer URL, so several of them
// can federate with each other in one test.
//
// The core API takes no *testing.T so that a demo program can use it too;
// StartT is the thin test wrapper.
//
// It is part of tokenfed's test harness (see pkg/testing/README.md), not
// product API: tokenfed's binary never imports it, and it may change
// with the tests that use it.
package controlplane
