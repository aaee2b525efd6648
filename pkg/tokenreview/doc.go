// Package tokenreview is tokenfed's HTTP edge for TokenReview: it decodes a
// v1 or v1beta1 review, asks an authenticator.Token, and answers in the
// request's own apiVersion with status only. It never echoes spec.token.
//
// Outcomes follow the contract in DESIGN.md: a token that is not valid is
// HTTP 200 with authenticated=false; a malformed request is a 4xx with a
// metav1.Status; 5xx is kept for real server faults, because kube-apiserver
// retries a 5xx and so multiplies the load.
package tokenreview
