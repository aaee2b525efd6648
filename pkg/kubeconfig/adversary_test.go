package kubeconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
)

// TestServerErrorsNeverRepeatTheURL: no error about --server repeats it,
// nor any part of it: not the password of user information, checked
// before the scheme and the host, not one that url.Parse misplaces (a
// password with "/", "?" or "#" in it), and not a query, which may hold a
// token.
func TestServerErrorsNeverRepeatTheURL(t *testing.T) {
	const secret = "hunter2-s3cret"
	for _, server := range []string{
		"http://admin:" + secret + "@tokenfed.example:8443",
		"https://admin:" + secret + "@/authenticate",
		"https://admin:" + secret + "@tokenfed.example",
		"https://admin:" + secret + "/x@tokenfed.example:8443",
		"https://admin:1234/" + secret + "@tokenfed.example",
		"https://admin:" + secret + "?@tokenfed.example",
		"https://admin:" + secret + "#@tokenfed.example",
		"https:admin:" + secret + "@tokenfed.example",
		"admin:" + secret + "@tokenfed.example:8443",
		"//admin:" + secret + "@tokenfed.example",
		"https://tokenfed.example/authenticate?token=" + secret,
		"https://tokenfed.example/authenticate#" + secret,
		"http://tokenfed.example/" + secret,
		"https://tokenfed.example:" + secret,
		"https://tokenfed.example/%zz" + secret,
		"ftp://" + secret,
		"https:///" + secret,
	} {
		_, err := Generate(Options{Server: server})

		if err == nil {
			t.Errorf("--server %s: got no error", server)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("got error %q, which repeats the URL", err)
		}
	}
}

// TestTokenFileErrorNeverRepeatsThePath: a token typed where its file
// belongs is not printed as the file that does not exist.
func TestTokenFileErrorNeverRepeatsThePath(t *testing.T) {
	const token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJtZW1iZXIifQ.c2lnbmF0dXJl"
	t.Chdir(t.TempDir())

	_, err := Build(Options{Server: "https://127.0.0.1:8443", CallerTokenFile: token})

	if err == nil || !strings.Contains(err.Error(), "--caller-token-file: cannot read it: ") || strings.Contains(err.Error(), "c2lnbmF0dXJl") {
		t.Fatalf("got %v, want an error that names the flag, not the path", err)
	}
}

// TestEmbedCertsCopiesOnlyParsedCertificates: pem.Decode skips whatever
// is not a well-formed PEM block, so a key block indented by two spaces
// (pasted from YAML), or one whose base64 is damaged, would pass a check
// of the blocks it finds. Key material anywhere, and any PEM boundary that
// is not part of a well-formed block, is refused; with --embed-certs, so
// is any text but blank lines and "#" comments. What is embedded is the
// certificates re-encoded from their parsed form, never the file.
func TestEmbedCertsCopiesOnlyParsedCertificates(t *testing.T) {
	dir := t.TempDir()
	certs, err := devcerts.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	ca, serving, key := mustRead(t, certs.CACert), mustRead(t, certs.ServingCert), mustRead(t, certs.ClientKey)
	indent := func(s string) string {
		var b strings.Builder
		for _, line := range strings.SplitAfter(s, "\n") {
			if line != "" {
				b.WriteString("  " + line)
			}
		}
		return b.String()
	}
	lines := strings.Split(key, "\n")
	damagedKey := strings.Join(append([]string{lines[0], "!!" + lines[1]}, lines[2:]...), "\n")
	unlabelled := strings.NewReplacer("-----BEGIN PRIVATE KEY-----", "-----BEGIN SECRET-----", "-----END PRIVATE KEY-----", "-----END SECRET-----").Replace(damagedKey)
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}

	for _, tc := range []struct {
		name, bundle string
		embed        bool
		wantErr      string // "": accepted
	}{
		{"an indented key", ca + indent(key), true, `"PRIVATE KEY"`},
		{"an indented key, by path", ca + indent(key), false, `"PRIVATE KEY"`},
		{"a key with damaged base64", ca + damagedKey, true, `"PRIVATE KEY"`},
		{"a damaged block of another name", ca + unlabelled, true, "not well-formed"},
		{"a damaged block of another name, by path", ca + unlabelled, false, "not well-formed"},
		{"an indented certificate", ca + indent(serving), true, "not well-formed"},
		{"a certificate cut short", ca + serving[:len(serving)/2], true, "not well-formed"},
		{"text between certificates", ca + "Serving CA\n==========\n" + serving, true, "line"},
		{"text between certificates, by path", ca + "Serving CA\n==========\n" + serving, false, ""},
		{"comments and blank lines", "# tokenfed's CA\n\n" + ca + "\n   \n# serving\n" + serving + "\n", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bundle := write("bundle.crt", tc.bundle)

			cfg, err := Build(Options{Server: "https://127.0.0.1:8443", CertificateAuthority: bundle, EmbedCerts: tc.embed})

			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want the bundle accepted", err)
				}
				if got := string(cfg.Clusters[DefaultName].CertificateAuthorityData); tc.embed && got != ca+serving {
					t.Errorf("got certificate-authority-data of %d bytes, want the two certificates alone (%d bytes)", len(got), len(ca+serving))
				}
				return
			}
			if err == nil {
				t.Fatalf("got certificate-authority-data of %d bytes (holding %q: %v), want an error", len(cfg.Clusters[DefaultName].CertificateAuthorityData),
					"PRIVATE KEY", strings.Contains(string(cfg.Clusters[DefaultName].CertificateAuthorityData), "PRIVATE KEY"))
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got error %q, want it to contain %q", err, tc.wantErr)
			}
			wantNoSecret(t, dir, err.Error())
		})
	}

	t.Run("the client certificate", func(t *testing.T) {
		cert := write("client-with-key.crt", mustRead(t, certs.ClientCert)+indent(key))

		_, err := Build(Options{Server: "https://127.0.0.1:8443", ClientCertificate: cert, ClientKey: certs.ClientKey, EmbedCerts: true})

		if err == nil || !strings.Contains(err.Error(), "--client-certificate") {
			t.Fatalf("got %v, want the certificate file with a key in it refused", err)
		}
	})
	t.Run("the client key is the key block alone", func(t *testing.T) {
		keyFile := write("client-bundle.key", "# the member's key\n"+mustRead(t, certs.ClientCert)+key+"trailing text\n")

		cfg, err := Build(Options{Server: "https://127.0.0.1:8443", ClientCertificate: certs.ClientCert, ClientKey: keyFile, EmbedCerts: true})

		if err != nil {
			t.Fatal(err)
		}
		if got := string(cfg.AuthInfos[DefaultName].ClientKeyData); got != key {
			t.Errorf("got client-key-data of %d bytes, want the key block alone (%d bytes)", len(got), len(key))
		}
	})
}
