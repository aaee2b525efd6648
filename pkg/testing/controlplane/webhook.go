package controlplane

import (
	"fmt"
	"time"

	"github.com/tokenfed/tokenfed/pkg/kubeconfig"
)

// WebhookOptions point kube-apiserver's token webhook authenticator at a
// TokenReview server such as tokenfed.
type WebhookOptions struct {
	// URL is where kube-apiserver POSTs TokenReviews, e.g.
	// https://127.0.0.1:8443/apis/authentication.k8s.io/v1/tokenreviews;
	// without a path it is tokenfed's /authenticate.
	URL string
	// CAFile verifies the webhook's serving certificate. Empty means the
	// system roots.
	CAFile string
	// ClientCertFile and ClientKeyFile are the certificate kube-apiserver
	// presents to the webhook. Both or neither.
	ClientCertFile, ClientKeyFile string
	// KubeconfigFile, instead of URL, CAFile, ClientCertFile and
	// ClientKeyFile, is a ready webhook kubeconfig, which kube-apiserver
	// reads as it is, e.g. one `tokenfed webhook-kubeconfig` wrote.
	KubeconfigFile string
	// Version is the TokenReview version sent: "v1", "v1beta1", or "" for
	// kube-apiserver's default, which is still v1beta1 in 1.37.
	Version string
	// CacheTTL is how long kube-apiserver caches webhook answers. Zero
	// disables its cache, unlike kube-apiserver's own default of 2m, so
	// that tests see every review reach the webhook.
	CacheTTL time.Duration
}

// validate rejects options kube-apiserver would reject later, with a less
// clear message and only in its log.
func (w WebhookOptions) validate() error {
	switch {
	case w.KubeconfigFile != "" && (w.URL != "" || w.CAFile != "" || w.ClientCertFile != "" || w.ClientKeyFile != ""):
		return fmt.Errorf("webhook kubeconfig file %s: want no URL, CA or client certificate besides it", w.KubeconfigFile)
	case w.KubeconfigFile == "" && w.URL == "":
		return fmt.Errorf("webhook URL is empty")
	}
	if (w.ClientCertFile == "") != (w.ClientKeyFile == "") {
		return fmt.Errorf("webhook client certificate and key must be set together")
	}
	switch w.Version {
	case "", "v1", "v1beta1":
		return nil
	default:
		return fmt.Errorf("webhook version %q: want v1, v1beta1 or empty", w.Version)
	}
}

// WebhookFlags returns the kube-apiserver flags that enable the token
// webhook described by w, whose kubeconfig is at configFile. The kind
// configs use the same flags, and a test compares them with these.
func WebhookFlags(configFile string, w WebhookOptions) []string {
	flags := []string{"--authentication-token-webhook-config-file=" + configFile}
	if w.Version != "" {
		flags = append(flags, "--authentication-token-webhook-version="+w.Version)
	}
	return append(flags, "--authentication-token-webhook-cache-ttl="+w.CacheTTL.String())
}

// WebhookKubeconfig returns the kubeconfig kube-apiserver reads with
// --authentication-token-webhook-config-file: the cluster is the webhook,
// the user is kube-apiserver itself. Certificates are embedded, so the file
// can be copied into a kind node as is.
func WebhookKubeconfig(w WebhookOptions) ([]byte, error) {
	if err := w.validate(); err != nil {
		return nil, err
	}
	if w.KubeconfigFile != "" {
		return nil, fmt.Errorf("webhook kubeconfig file %s: it is given, not generated", w.KubeconfigFile)
	}
	data, err := kubeconfig.Generate(kubeconfig.Options{
		Server: w.URL, CertificateAuthority: w.CAFile,
		ClientCertificate: w.ClientCertFile, ClientKey: w.ClientKeyFile,
		EmbedCerts: true,
	})
	if err != nil {
		return nil, fmt.Errorf("webhook kubeconfig: %w", err)
	}
	return data, nil
}

func writeWebhookKubeconfig(path string, w WebhookOptions) error {
	data, err := WebhookKubeconfig(w)
	if err != nil {
		return err
	}
	return kubeconfig.WriteFile(path, data)
}
