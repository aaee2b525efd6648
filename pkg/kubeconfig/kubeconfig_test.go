package kubeconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
)

// callerToken is the content of caller.token in the test directory.
const callerToken = "caller-token-do-not-print"

// testDir makes a directory of development certificates and the odd files
// the tests need, and makes it the working directory, so that tables can
// name files by relative paths. It returns the directory.
func testDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	certs, err := devcerts.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	ca, key := mustRead(t, certs.CACert), mustRead(t, certs.ClientKey)
	extra := map[string]string{
		"notpem.txt":          "not PEM at all\n",
		"empty.token":         " \n",
		"caller.token":        callerToken + "\n",
		"ca-with-key.pem":     ca + key,
		"garbage-cert.pem":    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"ca-bundle.pem":       ca + mustRead(t, certs.ServingCert),
		"sub/relative-ca.crt": ca,
	}
	for name, content := range extra {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	return dir
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// want is the part of a built kubeconfig a test checks. Paths are
// relative to the test directory, which run makes absolute; data fields
// name the file whose contents they must hold.
type want struct {
	Server, TLSServerName        string
	CA, CAData                   string
	Cert, Key, CertData, KeyData string
	TokenFile                    string
}

func TestBuild(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want want
	}{{
		name: "by path: relative paths become absolute, the server gets /authenticate",
		opts: Options{Server: "https://127.0.0.1:8443", CertificateAuthority: "sub/relative-ca.crt", ClientCertificate: "client.crt", ClientKey: "./client.key"},
		want: want{Server: "https://127.0.0.1:8443/authenticate", CA: "sub/relative-ca.crt", Cert: "client.crt", Key: "client.key"},
	}, {
		name: "embedded: contents instead of paths",
		opts: Options{Server: "https://tokenfed.example", CertificateAuthority: "ca.crt", ClientCertificate: "client.crt", ClientKey: "client.key", EmbedCerts: true},
		want: want{Server: "https://tokenfed.example/authenticate", CAData: "ca.crt", CertData: "client.crt", KeyData: "client.key"},
	}, {
		name: "a slash alone is no path",
		opts: Options{Server: "https://tokenfed.example:8443/"},
		want: want{Server: "https://tokenfed.example:8443/authenticate"},
	}, {
		name: "an explicit path is kept",
		opts: Options{Server: "https://tokenfed.example/apis/authentication.k8s.io/v1/tokenreviews"},
		want: want{Server: "https://tokenfed.example/apis/authentication.k8s.io/v1/tokenreviews"},
	}, {
		name: "a CA bundle of several certificates",
		opts: Options{Server: "https://tokenfed.example", CertificateAuthority: "ca-bundle.pem"},
		want: want{Server: "https://tokenfed.example/authenticate", CA: "ca-bundle.pem"},
	}, {
		name: "a caller token stays a path, even with embed-certs",
		opts: Options{Server: "https://tokenfed.example", CertificateAuthority: "ca.crt", CallerTokenFile: "caller.token", EmbedCerts: true},
		want: want{Server: "https://tokenfed.example/authenticate", CAData: "ca.crt", TokenFile: "caller.token"},
	}, {
		name: "a TLS server name",
		opts: Options{Server: "https://172.18.0.1:8443", TLSServerName: "localhost"},
		want: want{Server: "https://172.18.0.1:8443/authenticate", TLSServerName: "localhost"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := testDir(t)
			cfg, err := Build(tt.opts)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if diff := cmp.Diff(tt.want.resolve(t, dir), got(t, cfg, DefaultName)); diff != "" {
				t.Errorf("kubeconfig (-want +got):\n%s", diff)
			}
		})
	}
}

// resolve turns w's relative paths into absolute ones under dir, and its
// data file names into the files' contents.
func (w want) resolve(t *testing.T, dir string) want {
	abs := func(p string) string {
		if p == "" {
			return ""
		}
		return filepath.Join(dir, p)
	}
	data := func(p string) string {
		if p == "" {
			return ""
		}
		return mustRead(t, filepath.Join(dir, p))
	}
	w.CA, w.Cert, w.Key, w.TokenFile = abs(w.CA), abs(w.Cert), abs(w.Key), abs(w.TokenFile)
	w.CAData, w.CertData, w.KeyData = data(w.CAData), data(w.CertData), data(w.KeyData)
	return w
}

// got checks that cfg has one cluster, user and context, all called name,
// joined by the current context, and returns their fields.
func got(t *testing.T, cfg *clientcmdapi.Config, name string) want {
	t.Helper()
	if len(cfg.Clusters) != 1 || len(cfg.AuthInfos) != 1 || len(cfg.Contexts) != 1 {
		t.Fatalf("got %d clusters, %d users, %d contexts, want one of each", len(cfg.Clusters), len(cfg.AuthInfos), len(cfg.Contexts))
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	if cfg.CurrentContext != name || ctx == nil || ctx.Cluster != name || ctx.AuthInfo != name {
		t.Fatalf("got current context %q = %+v, want %q joining cluster and user %q", cfg.CurrentContext, ctx, name, name)
	}
	c, u := cfg.Clusters[name], cfg.AuthInfos[name]
	if c == nil || u == nil {
		t.Fatalf("got cluster %v and user %v named %q, want both", c, u, name)
	}
	return want{
		Server: c.Server, TLSServerName: c.TLSServerName,
		CA: c.CertificateAuthority, CAData: string(c.CertificateAuthorityData),
		Cert: u.ClientCertificate, Key: u.ClientKey, CertData: string(u.ClientCertificateData), KeyData: string(u.ClientKeyData),
		TokenFile: u.TokenFile,
	}
}

func TestBuildName(t *testing.T) {
	testDir(t)
	cfg, err := Build(Options{Server: "https://tokenfed.example", ClientCertificate: "client.crt", ClientKey: "client.key", Name: "hub-federation"})
	if err != nil {
		t.Fatal(err)
	}
	if g := got(t, cfg, "hub-federation"); g.Cert == "" {
		t.Errorf("got user %+v, want the client certificate under the given name", g)
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		// wantErr are substrings of the error: the flag it names, and why.
		wantErr []string
	}{
		{"no server", Options{}, []string{"--server is required"}},
		{"http", Options{Server: "http://tokenfed.example"}, []string{"--server", "https://"}},
		{"no host", Options{Server: "https:///authenticate"}, []string{"--server", "want a host"}},
		{"a query", Options{Server: "https://tokenfed.example/?x=1"}, []string{"--server", "no query"}},
		{"user information", Options{Server: "https://member:hunter2@tokenfed.example"}, []string{"--server", "no user information"}},
		{"not a URL, with a password", Options{Server: "https://member:hunter2@tokenfed.example:port"}, []string{"--server", "no user information"}},
		{"not a URL", Options{Server: "https://tokenfed.example:port"}, []string{"--server is not a URL"}},
		{"certificate without key", Options{Server: "https://t", ClientCertificate: "client.crt"}, []string{"--client-certificate and --client-key must be set together"}},
		{"key without certificate", Options{Server: "https://t", ClientKey: "client.key"}, []string{"--client-certificate and --client-key must be set together"}},
		{"certificate and token", Options{Server: "https://t", ClientCertificate: "client.crt", ClientKey: "client.key", CallerTokenFile: "caller.token"}, []string{"--client-certificate and --caller-token-file", "not both"}},
		{"missing CA", Options{Server: "https://t", CertificateAuthority: "nope.crt"}, []string{"--certificate-authority", "nope.crt", "no such file"}},
		{"CA not PEM", Options{Server: "https://t", CertificateAuthority: "notpem.txt"}, []string{"--certificate-authority", "no PEM certificate"}},
		{"CA that is a key", Options{Server: "https://t", CertificateAuthority: "client.key"}, []string{"--certificate-authority", `"PRIVATE KEY"`, "want only CERTIFICATE"}},
		{"CA bundle with a key in it", Options{Server: "https://t", CertificateAuthority: "ca-with-key.pem", EmbedCerts: true}, []string{"--certificate-authority", `"PRIVATE KEY"`}},
		{"CA that does not parse", Options{Server: "https://t", CertificateAuthority: "garbage-cert.pem"}, []string{"--certificate-authority", "certificate 1"}},
		{"missing certificate", Options{Server: "https://t", ClientCertificate: "nope.crt", ClientKey: "client.key"}, []string{"--client-certificate", "no such file"}},
		{"certificate not PEM", Options{Server: "https://t", ClientCertificate: "notpem.txt", ClientKey: "client.key"}, []string{"--client-certificate", "no PEM certificate"}},
		{"missing key", Options{Server: "https://t", ClientCertificate: "client.crt", ClientKey: "nope.key"}, []string{"--client-key", "no such file"}},
		{"key not PEM", Options{Server: "https://t", ClientCertificate: "client.crt", ClientKey: "notpem.txt"}, []string{"--client-key", "no PEM private key"}},
		{"key is a certificate", Options{Server: "https://t", ClientCertificate: "client.crt", ClientKey: "client.crt"}, []string{"--client-key", "no PEM private key"}},
		{"mismatched key", Options{Server: "https://t", ClientCertificate: "client.crt", ClientKey: "tls.key"}, []string{"--client-certificate", "--client-key", "not a pair", "does not match"}},
		{"mismatched key, embedded", Options{Server: "https://t", ClientCertificate: "client.crt", ClientKey: "ca.key", EmbedCerts: true}, []string{"not a pair"}},
		{"missing token file", Options{Server: "https://t", CallerTokenFile: "nope.token"}, []string{"--caller-token-file", "no such file"}},
		{"empty token file", Options{Server: "https://t", CallerTokenFile: "empty.token"}, []string{"--caller-token-file", "is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := testDir(t)
			cfg, err := Build(tt.opts)
			if err == nil {
				t.Fatalf("got kubeconfig %+v, want an error with %q", cfg, tt.wantErr)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("got error %q, want it to contain %q", err, s)
				}
			}
			wantNoSecret(t, dir, err.Error())
		})
	}
}

// wantNoSecret fails if msg holds any line of a private key in dir, the
// caller token, or a password.
func wantNoSecret(t *testing.T, dir, msg string) {
	t.Helper()
	if strings.Contains(msg, callerToken) || strings.Contains(msg, "hunter2") {
		t.Fatalf("error %q holds a credential", msg)
	}
	for _, name := range []string{"ca.key", "tls.key", "client.key"} {
		for _, line := range strings.Split(mustRead(t, filepath.Join(dir, name)), "\n") {
			if len(line) > 16 && !strings.HasPrefix(line, "-----") && strings.Contains(msg, line) {
				t.Fatalf("error %q holds a line of %s", msg, name)
			}
		}
	}
}

func TestGenerateIsYAMLOfBuild(t *testing.T) {
	testDir(t)
	data, err := Generate(Options{Server: "https://tokenfed.example", CertificateAuthority: "ca.crt", ClientCertificate: "client.crt", ClientKey: "client.key", EmbedCerts: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"kind: Config", "server: https://tokenfed.example/authenticate", "certificate-authority-data: ", "client-key-data: ", "current-context: tokenfed"} {
		if !strings.Contains(string(data), s) {
			t.Errorf("got kubeconfig\n%s\nwant it to contain %q", data, s)
		}
	}
	if _, err := Generate(Options{}); err == nil {
		t.Error("Generate without a server: got no error, want one")
	}
}
