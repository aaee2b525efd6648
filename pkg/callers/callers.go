// Package callers decides who may ask tokenfed for a review, and about
// what. A caller is authenticated by a client certificate or by its own
// bearer token (k8s.io/apiserver's request authenticators), then
// authorized by a static policy list or by SubjectAccessReview in the
// cluster tokenfed runs in (k8s.io/apiserver's delegating authorizer).
//
// With a client CA configured, a certificate must chain to it; the CA file
// is re-read when it changes, so it can be rotated without a restart.
//
// The certificate is verified once per connection, in the TLS handshake,
// against the CA current at that moment (kube-apiserver's webhook client
// keeps its connections open, so per-request verification would cost an
// x509 chain check on every review). The handshake only requests a
// certificate, so health probes without one still connect; the review
// endpoints then require one.
package callers

import (
	"crypto/x509"
)

// VerifyOptionsFunc returns the current client-CA verify options, and false
// when no CA is configured. dynamiccertificates.DynamicFileCAContent's
// VerifyOptions method has this shape.
type VerifyOptionsFunc func() (x509.VerifyOptions, bool)

// verify checks chain against opts for client auth, as kube-apiserver's
// x509 authenticator does.
func verify(chain []*x509.Certificate, opts x509.VerifyOptions) ([][]*x509.Certificate, error) {
	opts.Intermediates = x509.NewCertPool()
	for _, c := range chain[1:] {
		opts.Intermediates.AddCert(c)
	}
	opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return chain[0].Verify(opts)
}
