package tokenfedproc

import (
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// WriteWebhookKubeconfig writes the kubeconfig a kube-apiserver's
// --authentication-token-webhook-config-file needs to call this process:
// cluster = tokenfed's URL and CA, user = the dev client certificate.
func (p *Process) WriteWebhookKubeconfig(path string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["tokenfed"] = &clientcmdapi.Cluster{
		// /authenticate: kube-apiserver posts every version to this one URL.
		Server:               p.URL + "/authenticate",
		CertificateAuthority: p.Certs.CACert,
	}
	cfg.AuthInfos["apiserver"] = &clientcmdapi.AuthInfo{ClientCertificate: p.Certs.ClientCert, ClientKey: p.Certs.ClientKey}
	cfg.Contexts["webhook"] = &clientcmdapi.Context{Cluster: "tokenfed", AuthInfo: "apiserver"}
	cfg.CurrentContext = "webhook"
	return clientcmd.WriteToFile(*cfg, path)
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
