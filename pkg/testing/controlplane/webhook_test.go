package controlplane

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
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
	dir := t.TempDir()
	files := map[string]string{"ca.crt": "CA", "client.crt": "CERT", "client.key": "KEY"}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	data, err := WebhookKubeconfig(WebhookOptions{
		URL:            "https://127.0.0.1:8443/authenticate",
		CAFile:         filepath.Join(dir, "ca.crt"),
		ClientCertFile: filepath.Join(dir, "client.crt"),
		ClientKeyFile:  filepath.Join(dir, "client.key"),
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
	want := []string{"https://127.0.0.1:8443/authenticate", "CA", "CERT", "KEY"}
	if !slices.Equal(got, want) {
		t.Errorf("got server, CA, cert, key %q, want %q", got, want)
	}
}

func TestWebhookOptionsInvalid(t *testing.T) {
	for name, opts := range map[string]WebhookOptions{
		"no URL":           {},
		"unknown version":  {URL: "https://x", Version: "v2"},
		"cert without key": {URL: "https://x", ClientCertFile: "c"},
	} {
		if _, err := WebhookKubeconfig(opts); err == nil {
			t.Errorf("%s: got no error, want one", name)
		}
	}
}
