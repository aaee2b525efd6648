package controlplane

import (
	"os"
	"slices"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
)

func TestWebhookFlags(t *testing.T) {
	tests := []struct {
		name string
		opts WebhookOptions
		want []string
	}{{
		name: "defaults leave the version to kube-apiserver and disable its cache",
		opts: WebhookOptions{URL: "https://127.0.0.1:1"},
		want: []string{
			"--authentication-token-webhook-config-file=/etc/tokenfed/webhook.kubeconfig",
			"--authentication-token-webhook-cache-ttl=0s",
		},
	}, {
		name: "v1 with a cache",
		opts: WebhookOptions{URL: "https://127.0.0.1:1", Version: "v1", CacheTTL: 30 * time.Second},
		want: []string{
			"--authentication-token-webhook-config-file=/etc/tokenfed/webhook.kubeconfig",
			"--authentication-token-webhook-version=v1",
			"--authentication-token-webhook-cache-ttl=30s",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := WebhookFlags("/etc/tokenfed/webhook.kubeconfig", tt.opts); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWebhookKubeconfig(t *testing.T) {
	certs, err := devcerts.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := WebhookKubeconfig(WebhookOptions{
		URL:    "https://127.0.0.1:8443/authenticate",
		CAFile: certs.CACert, ClientCertFile: certs.ClientCert, ClientKeyFile: certs.ClientKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		t.Fatalf("load the webhook kubeconfig: %v\n%s", err, data)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	if ctx == nil {
		t.Fatalf("got no current context, want one\n%s", data)
	}
	cluster, user := cfg.Clusters[ctx.Cluster], cfg.AuthInfos[ctx.AuthInfo]
	got := []string{cluster.Server, string(cluster.CertificateAuthorityData), string(user.ClientCertificateData), string(user.ClientKeyData)}
	want := []string{"https://127.0.0.1:8443/authenticate", read(t, certs.CACert), read(t, certs.ClientCert), read(t, certs.ClientKey)}
	if !slices.Equal(got, want) {
		t.Errorf("got server, CA, cert, key %q, want %q", got, want)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestWebhookKubeconfigFile: a given kubeconfig is what kube-apiserver is
// pointed at, and nothing is generated for it.
func TestWebhookKubeconfigFile(t *testing.T) {
	c := &ControlPlane{Dir: t.TempDir(), opts: Options{Webhook: &WebhookOptions{KubeconfigFile: "/etc/member/webhook.kubeconfig"}}}
	if got, want := c.webhookKubeconfig(), "/etc/member/webhook.kubeconfig"; got != want {
		t.Errorf("got webhook kubeconfig %q, want the given %q", got, want)
	}
	if err := c.opts.Webhook.validate(); err != nil {
		t.Errorf("validate: got %v, want no error", err)
	}
	if _, err := WebhookKubeconfig(*c.opts.Webhook); err == nil {
		t.Error("WebhookKubeconfig of a given file: got no error, want one")
	}
}

func TestWebhookOptionsInvalid(t *testing.T) {
	for name, opts := range map[string]WebhookOptions{
		"no URL":           {},
		"unknown version":  {URL: "https://x", Version: "v2"},
		"cert without key": {URL: "https://x", ClientCertFile: "c"},
		"file and URL":     {KubeconfigFile: "/k", URL: "https://x"},
		"file and CA":      {KubeconfigFile: "/k", CAFile: "ca.crt"},
		"file and cert":    {KubeconfigFile: "/k", ClientCertFile: "c", ClientKeyFile: "k"},
	} {
		if err := opts.validate(); err == nil {
			t.Errorf("%s: got no error, want one", name)
		}
	}
}
