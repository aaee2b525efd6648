package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

var badConfigs = []struct {
	name string
	yaml string
	want []string // every one must appear in the output
}{
	{
		name: "unknown field",
		yaml: "apiVersion: tokenfed.io/v1alpha1\nkind: Configuration\nserver:\n  tlsCertFile: a\n  tlsPrivateKeyFile: b\n  securePorts: 9\n",
		want: []string{`server.securePorts: Forbidden: unknown field; did you mean "securePort"?`},
	},
	{
		name: "duplicate field",
		yaml: "apiVersion: tokenfed.io/v1alpha1\nkind: Configuration\nserver:\n  tlsCertFile: a\n  tlsCertFile: b\n",
		want: []string{`server.tlsCertFile: Duplicate value: the key is on lines 4 and 5; give it once`},
	},
	{
		name: "invalid values",
		yaml: `apiVersion: tokenfed.io/v1alpha1
kind: Configuration
server:
  securePort: 70000
  bindAddress: not-an-ip
cache:
  maxEntries: -1
issuers:
- name: Hub_1
  type: SAML
  url: http://insecure.example
  algorithms: [HS256]
  mapping: {prefix: ""}
- name: Hub_1
  url: https://ok.example
  upstream: {policy: sometimes}
`,
		want: []string{
			"server.bindAddress", "server.securePort", "server.tlsCertFile: Required", "server.tlsPrivateKeyFile: Required",
			"cache.maxEntries", "issuers[0].name", "issuers[0].type", "issuers[0].url: Invalid value",
			"issuers[0].algorithms[0]", "issuers[0].mapping.prefix", "issuers[1].name: Duplicate",
			"issuers[1].upstream.policy", "issuers[1].upstream.kubeconfig",
		},
	},
}

// TestBadConfig: `config validate` lists every error with its field path
// and exits non-zero, and `serve` refuses to start with the same message.
func TestBadConfig(t *testing.T) {
	bin, err := tokenfedproc.Binary()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range badConfigs {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"config", "validate", "--config", path}, {"serve", "--config", path}} {
				out, err := exec.Command(bin, args...).CombinedOutput()
				if code := exitCode(err); code == 0 {
					t.Fatalf("tokenfed %s: got exit code 0, want non-zero", strings.Join(args[:2], " "))
				}
				for _, w := range tc.want {
					if !strings.Contains(string(out), w) {
						t.Errorf("tokenfed %s: output lacks %q:\n%s", args[0], w, out)
					}
				}
			}
		})
	}
}

func TestConfigDefaultsValidate(t *testing.T) {
	bin, err := tokenfedproc.Binary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "config", "defaults").Output()
	if err != nil {
		t.Fatalf("config defaults: %v", err)
	}
	for _, w := range []string{"apiVersion: tokenfed.io/v1alpha1", "kind: Configuration", "securePort: 8443", "maxRequestBodyBytes: 1048576"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("config defaults lacks %q:\n%s", w, out)
		}
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}
