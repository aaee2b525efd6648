package authn

import (
	"fmt"
	"net/http"

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
	return &http.Client{Transport: rt, Timeout: f.Timeout.Duration}, nil
}
