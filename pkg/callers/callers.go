// Package callers decides who may ask tokenfed for a review. With a client
// CA configured, a caller must present a certificate that chains to it; the
// CA file is re-read when it changes, so it can be rotated without a restart.
//
// The certificate is verified once per connection, in the TLS handshake,
// against the CA current at that moment (kube-apiserver's webhook client
// keeps its connections open, so per-request verification would cost an
// x509 chain check on every review). The handshake only requests a
// certificate, so health probes without one still connect; the review
// endpoints then require one.
package callers

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/json"
)

// VerifyOptionsFunc returns the current client-CA verify options, and false
// when no CA is configured. dynamiccertificates.DynamicFileCAContent's
// VerifyOptions method has this shape.
type VerifyOptionsFunc func() (x509.VerifyOptions, bool)

// VerifyConnection is a tls.Config.VerifyConnection that rejects the
// handshake of a caller whose certificate does not chain to the current CA.
// A caller without a certificate passes here and is refused by
// RequireClientCert on the review endpoints.
func VerifyConnection(verifyOpts VerifyOptionsFunc) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		opts, ok := verifyOpts()
		if !ok || len(cs.PeerCertificates) == 0 {
			return nil
		}
		if _, err := verify(cs.PeerCertificates, opts); err != nil {
			return errors.New("client certificate is not trusted")
		}
		return nil
	}
}

// RequireClientCert wraps next so that, when a CA is configured, only
// callers whose connection presented a (handshake-verified) certificate
// get through.
func RequireClientCert(next http.Handler, verifyOpts VerifyOptionsFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := verifyOpts(); ok && (r.TLS == nil || len(r.TLS.PeerCertificates) == 0) {
			deny(w, http.StatusUnauthorized, "a client certificate is required")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func verify(chain []*x509.Certificate, opts x509.VerifyOptions) ([][]*x509.Certificate, error) {
	opts.Intermediates = x509.NewCertPool()
	for _, c := range chain[1:] {
		opts.Intermediates.AddCert(c)
	}
	opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return chain[0].Verify(opts)
}

func deny(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	body, _ := json.Marshal(&metav1.Status{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
		Status:   metav1.StatusFailure, Code: int32(code),
		Reason: metav1.StatusReasonUnauthorized, Message: msg,
	})
	_, _ = w.Write(body)
}
