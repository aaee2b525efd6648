package authn

import (
	"fmt"
	"net/http"

	"github.com/go-logr/logr"

	"k8s.io/client-go/transport"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
)

// fetchClient is the HTTP client for an issuer's discovery and JWKS. It
// reuses client-go's transport, which re-reads the bearer token file and
// reloads client certificates, as kube-apiserver does for its own clients.
func fetchClient(f *v1alpha1.Fetch) (*http.Client, error) {
	rt, err := transport.New(&transport.Config{
		TLS: transport.TLSConfig{
			CAFile: f.CAFile, CertFile: f.ClientCertFile, KeyFile: f.ClientKeyFile,
			ReloadTLSFiles: f.ClientCertFile != "", ReloadCAFiles: f.CAFile != "",
		},
		BearerTokenFile: f.BearerTokenFile,
	})
	if err != nil {
		return nil, fmt.Errorf("key fetch client: %w", err)
	}
	return &http.Client{Transport: quietTransport{rt}, Timeout: f.Timeout.Duration}, nil
}

// quietTransport gives each fetch a discarding logger. client-go's
// transport logs requests and response headers from the request context's
// logger at -v=6 and above; it masks Authorization, but an issuer that
// echoes the fetch credential in a response header would get it logged.
// A fetch is reported by the key set's own lines and metrics instead.
type quietTransport struct{ next http.RoundTripper }

func (q quietTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return q.next.RoundTrip(r.WithContext(logr.NewContext(r.Context(), logr.Discard())))
}
