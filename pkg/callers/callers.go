// Package callers decides who may ask tokenfed for a review. With a client
// CA configured, a caller must present a certificate that chains to it; the
// CA file is re-read when it changes, so it can be rotated without a restart.
package callers

import (
	"crypto/x509"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/json"
	"k8s.io/klog/v2"
)

// VerifyOptionsFunc returns the current client-CA verify options, and false
// when no CA is configured. dynamiccertificates.DynamicFileCAContent's
// VerifyOptions method has this shape.
type VerifyOptionsFunc func() (x509.VerifyOptions, bool)

// RequireClientCert wraps next so that, when verifyOpts reports a CA, only
// callers with a certificate issued by it get through. The TLS layer only
// requests certificates; verifying here (as kube-apiserver's x509
// authenticator does) lets the CA change without rebuilding the listener and
// keeps health endpoints reachable by probes that have no certificate.
func RequireClientCert(next http.Handler, verifyOpts VerifyOptionsFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		opts, ok := verifyOpts()
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			deny(w, http.StatusUnauthorized, "a client certificate is required")
			return
		}
		if _, err := verify(r.TLS.PeerCertificates, opts); err != nil {
			klog.FromContext(r.Context()).V(2).Info("caller certificate rejected", "err", err)
			deny(w, http.StatusUnauthorized, "client certificate is not trusted")
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
