package v1alpha1

import (
	"path/filepath"
	"strings"
	"testing"
)

// A credential pasted where a file path goes (a token as
// fetch.bearerTokenFile, a PEM key as server.tlsPrivateKeyFile, a whole
// kubeconfig as upstream.kubeconfig) is refused by validation, and never
// repeated: the error reaches the log, config validate's output and, at a
// hot reload, /readyz?verbose. Without this it would be opened as a path,
// and the "no such file" error would print it.
func TestValidateRefusesCredentialsAsFilePaths(t *testing.T) {
	const (
		token = "eyJhbGciOiJFUzI1NiIsImtpZCI6InN0YXRpYy0xIn0.eyJpc3MiOiJodHRwczovL2h1YiJ9.c2lnbmF0dXJlc2lnbmF0dXJl"
		key   = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"
		kc    = "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: s3cr3t-kubeconfig-token\n"
	)
	for _, tc := range []struct {
		name, secret, field string
		set                 func(c *Configuration, v string)
	}{
		{"token as bearerTokenFile", token, "issuers[0].fetch.bearerTokenFile", func(c *Configuration, v string) { c.Issuers[0].Fetch.BearerTokenFile = v }},
		{"key as tlsPrivateKeyFile", key, "server.tlsPrivateKeyFile", func(c *Configuration, v string) { c.Server.TLSPrivateKeyFile = v }},
		{"key as clientKeyFile", key, "issuers[0].fetch.clientKeyFile", func(c *Configuration, v string) {
			c.Issuers[0].Fetch.ClientCertFile, c.Issuers[0].Fetch.ClientKeyFile = "/etc/tokenfed/client.crt", v
		}},
		{"kubeconfig as upstream.kubeconfig", kc, "issuers[0].upstream.kubeconfig", func(c *Configuration, v string) {
			c.Issuers[0].Upstream = &Upstream{Kubeconfig: v}
			SetDefaults(c)
		}},
		{"kubeconfig with inCluster too", kc, "issuers[0].upstream.kubeconfig", func(c *Configuration, v string) {
			c.Issuers[0].Upstream = &Upstream{Kubeconfig: v, InCluster: true}
			SetDefaults(c)
		}},
		{"token as caFile", token, "issuers[0].fetch.caFile", func(c *Configuration, v string) { c.Issuers[0].Fetch.CAFile = v }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := LoadFile(filepath.Join("testdata", "issuer-minimal.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			tc.set(cfg, tc.secret)
			errs := Validate(cfg)
			got := FormatErrors(errs)
			if len(errs) == 0 || !strings.Contains(got, tc.field+": Invalid value") {
				t.Errorf("got %s\nwant %s refused", got, tc.field)
			}
			for _, line := range strings.Split(tc.secret, "\n") {
				if len(line) > 8 && strings.Contains(got, line) {
					t.Errorf("the error repeats the credential (%q):\n%s", line, got)
				}
			}
		})
	}
}

// Ordinary paths, relative ones and names with dots included, are paths.
func TestValidateAcceptsOrdinaryFilePaths(t *testing.T) {
	for _, p := range []string{"/etc/tokenfed/tls/tls.key", "tls.key", "certs/client.v1.key", "..data/token", "/var/run/secrets/tokens/hub.token"} {
		cfg, err := LoadFile(filepath.Join("testdata", "issuer-minimal.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Issuers[0].Fetch.BearerTokenFile = p
		if errs := Validate(cfg); len(errs) > 0 {
			t.Errorf("bearerTokenFile %q: %v", p, errs.ToAggregate())
		}
	}
}
