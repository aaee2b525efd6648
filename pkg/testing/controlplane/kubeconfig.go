package controlplane

import (
	"fmt"
	"os"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// singleContextConfig is a kubeconfig with one cluster, one user and one
// current context joining them. user may be nil for a cluster-only config.
func singleContextConfig(clusterName string, cluster *clientcmdapi.Cluster, userName string, user *clientcmdapi.AuthInfo) clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[clusterName] = cluster
	ctx := &clientcmdapi.Context{Cluster: clusterName}
	if user != nil {
		cfg.AuthInfos[userName] = user
		ctx.AuthInfo = userName
	}
	cfg.Contexts[clusterName] = ctx
	cfg.CurrentContext = clusterName
	return *cfg
}

// writeAdminKubeconfig writes a self-contained kubeconfig for the
// system:masters client certificate.
func writeAdminKubeconfig(path, name, url string, files pkiFiles) error {
	ca, err := os.ReadFile(files.CACert)
	if err != nil {
		return fmt.Errorf("read CA: %w", err)
	}
	cert, err := os.ReadFile(files.AdminCert)
	if err != nil {
		return fmt.Errorf("read admin certificate: %w", err)
	}
	key, err := os.ReadFile(files.AdminKey)
	if err != nil {
		return fmt.Errorf("read admin key: %w", err)
	}
	cfg := singleContextConfig(name,
		&clientcmdapi.Cluster{Server: url, CertificateAuthorityData: ca},
		"admin", &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key})
	if err := clientcmd.WriteToFile(cfg, path); err != nil {
		return fmt.Errorf("write admin kubeconfig: %w", err)
	}
	return nil
}

// writeClusterKubeconfig writes a kubeconfig with the cluster only and no
// user, so kubectl authenticates with nothing but the flags it is given.
func writeClusterKubeconfig(path, name, url, caFile string) error {
	cfg := singleContextConfig(name, &clientcmdapi.Cluster{Server: url, CertificateAuthority: caFile}, "", nil)
	if err := clientcmd.WriteToFile(cfg, path); err != nil {
		return fmt.Errorf("write cluster kubeconfig: %w", err)
	}
	return nil
}
