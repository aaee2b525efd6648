package tokenfedproc

import (
	"k8s.io/client-go/rest"

	"github.com/tokenfed/tokenfed/pkg/kubeconfig"
)

// WriteWebhookKubeconfig writes the kubeconfig a kube-apiserver's
// --authentication-token-webhook-config-file needs to call this process:
// cluster = tokenfed's URL (/authenticate) and CA, user = the dev client
// certificate, by path.
func (p *Process) WriteWebhookKubeconfig(path string) error {
	data, err := kubeconfig.Generate(kubeconfig.Options{
		Server: p.URL, CertificateAuthority: p.Certs.CACert,
		ClientCertificate: p.Certs.ClientCert, ClientKey: p.Certs.ClientKey,
	})
	if err != nil {
		return err
	}
	return kubeconfig.WriteFile(path, data)
}

// RESTConfig lets client-go talk to tokenfed as if it were an apiserver.
func (p *Process) RESTConfig() *rest.Config {
	return &rest.Config{
		Host: p.URL,
		TLSClientConfig: rest.TLSClientConfig{
			CAFile: p.Certs.CACert, CertFile: p.Certs.ClientCert, KeyFile: p.Certs.ClientKey,
		},
	}
}
