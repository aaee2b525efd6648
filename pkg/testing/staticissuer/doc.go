// Package staticissuer is a Kubernetes service-account issuer for tests
// that tokenfed trusts through inline keys (issuers[].staticKeys): no
// server, no control plane. It mints tokens shaped as kube-apiserver mints
// them, and registers each with secretscan.
//
// It is part of tokenfed's test harness (see pkg/testing/README.md), not
// product API: tokenfed's binary never imports it, and it may change
// with the tests that use it.
package staticissuer
