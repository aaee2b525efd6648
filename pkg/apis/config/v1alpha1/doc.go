// Package v1alpha1 holds tokenfed's versioned configuration file format
// (apiVersion tokenfed.io/v1alpha1, kind Configuration): the types, their
// defaults, strict loading and validation. Every default is set in
// defaults.go and nowhere else, so `tokenfed config defaults` shows the truth.
package v1alpha1
