package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
)

// runCLI runs `tokenfed args...` as main does and returns the exit code,
// standard output and standard error.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCommand()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	return run(root), out.String(), errOut.String()
}

// certsAndOutput writes development certificates, and returns them and
// a path in a directory of its own for the command to write.
func certsAndOutput(t *testing.T) (devcerts.Files, string) {
	t.Helper()
	certs, err := devcerts.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return certs, filepath.Join(t.TempDir(), "webhook.kubeconfig")
}

func TestWebhookKubeconfigCommand(t *testing.T) {
	certs, output := certsAndOutput(t)
	tests := []struct {
		name string
		args []string
		// file is the kubeconfig the command must write; empty: stdout.
		file string
		// wantServer is the server in the kubeconfig, wantStderr a part of
		// standard error.
		wantServer, wantStderr string
	}{{
		name:       "to standard output",
		args:       []string{"--server", "https://127.0.0.1:8443", "--certificate-authority", certs.CACert, "--client-certificate", certs.ClientCert, "--client-key", certs.ClientKey},
		wantServer: "https://127.0.0.1:8443/authenticate",
	}, {
		name:       "to a file, embedded",
		args:       []string{"--server", "https://127.0.0.1:8443", "--certificate-authority", certs.CACert, "--client-certificate", certs.ClientCert, "--client-key", certs.ClientKey, "--embed-certs", "-o", output},
		file:       output,
		wantServer: "https://127.0.0.1:8443/authenticate",
	}, {
		name:       "no credential is allowed, with a warning",
		args:       []string{"--server", "https://127.0.0.1:8443/authenticate"},
		wantServer: "https://127.0.0.1:8443/authenticate",
		wantStderr: "Warning: no --client-certificate or --caller-token-file",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"webhook-kubeconfig"}, tt.args...)...)
			if code != 0 {
				t.Fatalf("got exit code %d, stderr %q, want 0", code, stderr)
			}
			if !strings.Contains(stderr, tt.wantStderr) || (tt.wantStderr == "" && stderr != "") {
				t.Errorf("got stderr %q, want %q", stderr, tt.wantStderr)
			}
			data := []byte(stdout)
			if tt.file != "" {
				if stdout != "" {
					t.Errorf("got stdout %q, want nothing when writing a file", stdout)
				}
				var err error
				if data, err = os.ReadFile(tt.file); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := clientcmd.Load(data)
			if err != nil {
				t.Fatalf("load the output: %v", err)
			}
			if cl := cfg.Clusters[cfg.Contexts[cfg.CurrentContext].Cluster]; cl.Server != tt.wantServer {
				t.Errorf("got server %q, want %q", cl.Server, tt.wantServer)
			}
		})
	}
}

func TestWebhookKubeconfigCommandErrors(t *testing.T) {
	certs, output := certsAndOutput(t)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no server", nil, "Error: --server is required"},
		{"mismatched key", []string{"--server", "https://t", "--client-certificate", certs.ClientCert, "--client-key", certs.ServingKey, "-o", output}, "are not a pair"},
		{"an argument", []string{"--server", "https://t", "extra"}, "Error: tokenfed webhook-kubeconfig takes no arguments, got 1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"webhook-kubeconfig"}, tt.args...)...)
			if code != 1 || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("got exit code %d, stderr %q; want 1 and %q", code, stderr, tt.wantErr)
			}
			if strings.Contains(stderr, "extra") {
				t.Errorf("got stderr %q, which repeats an argument", stderr)
			}
			if stdout != "" {
				t.Errorf("got stdout %q, want nothing on error", stdout)
			}
			if _, err := os.Stat(output); !os.IsNotExist(err) {
				t.Errorf("stat %s: got %v, want no file written on error", output, err)
			}
		})
	}
}
