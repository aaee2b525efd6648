// Package manifests checks the kustomize manifests under config/ against a
// real kube-apiserver (pkg/testing/controlplane): every kustomization and
// every component passes `kubectl apply --dry-run=server` with no warning,
// as does the example overlay of docs/deploy.md, and applying and deleting
// them for real leaves the others alone.
//
// The CRDs they need come from pinned Go modules, so no registry or
// download site other than the Go module proxy is involved: cert-manager's
// from the version in go.mod, the Prometheus Operator's from the version
// pinned in crds_test.go and checked against its go.sum hash.
//
// config/'s own tests (go test ./config) check the same manifests without
// a control plane: that they decode strictly and are wired together.
package manifests
