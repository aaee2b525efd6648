package main

import (
	"bytes"
	"io"
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

// TestWebhookKubeconfigKeyOnStandardOutput: with --embed-certs and
// --client-key the kubeconfig holds a private key. Without -o it is never
// printed to a terminal (a character device), and it is printed anywhere
// else with a warning, unless standard output is a file only its owner can
// read.
func TestWebhookKubeconfigKeyOnStandardOutput(t *testing.T) {
	certs, _ := certsAndOutput(t)
	args := []string{"webhook-kubeconfig", "--server", "https://127.0.0.1:8443", "--client-certificate", certs.ClientCert, "--client-key", certs.ClientKey}
	key := strings.Split(mustReadFile(t, certs.ClientKey), "\n")[1]
	open := func(path string, flag int, mode os.FileMode) *os.File {
		f, err := os.OpenFile(path, flag, mode)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.Close() })
		return f
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name        string
		stdout      func() (w io.Writer, read func() string)
		embed       bool
		wantCode    int
		wantStderr  string
		wantWarning bool
	}{
		{"embedded, to a terminal", func() (io.Writer, func() string) {
			return open(os.DevNull, os.O_WRONLY, 0), func() string { return "" }
		}, true, 1, "standard output is a terminal: give -o FILE", false},
		{"by path, to a terminal", func() (io.Writer, func() string) {
			return open(os.DevNull, os.O_WRONLY, 0), func() string { return "" }
		}, false, 0, "", false},
		{"embedded, to a pipe", func() (io.Writer, func() string) {
			var b bytes.Buffer
			return &b, b.String
		}, true, 0, "", true},
		{"embedded, to a file of mode 0644", func() (io.Writer, func() string) {
			p := filepath.Join(dir, "wide.kubeconfig")
			return open(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644), func() string { return mustReadFile(t, p) }
		}, true, 0, "", true},
		{"embedded, to a file of mode 0600", func() (io.Writer, func() string) {
			p := filepath.Join(dir, "private.kubeconfig")
			return open(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600), func() string { return mustReadFile(t, p) }
		}, true, 0, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, read := tc.stdout()
			root := newRootCommand()
			a := args
			if tc.embed {
				a = append(a[:len(a):len(a)], "--embed-certs")
			}
			root.SetArgs(a)
			root.SetOut(w)
			var errOut bytes.Buffer
			root.SetErr(&errOut)

			code := run(root)

			stderr := errOut.String()
			if code != tc.wantCode || !strings.Contains(stderr, tc.wantStderr) {
				t.Fatalf("got exit code %d and stderr %q, want %d and %q", code, stderr, tc.wantCode, tc.wantStderr)
			}
			if got := strings.Contains(stderr, "Warning: the kubeconfig holds the private key"); got != tc.wantWarning {
				t.Errorf("got stderr %q: warning %v, want %v", stderr, got, tc.wantWarning)
			}
			if out := read(); tc.wantCode == 0 && tc.embed && !strings.Contains(out, "client-key-data") {
				t.Errorf("got %d bytes of kubeconfig without client-key-data, want the key embedded", len(out))
			}
			if strings.Contains(stderr, key) {
				t.Error("got stderr that holds the key")
			}
		})
	}
}

func mustReadFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
