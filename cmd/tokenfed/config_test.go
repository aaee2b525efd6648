package main

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

var update = flag.Bool("update", false, "rewrite golden files")

// configHeader starts every configuration below.
const configHeader = "apiVersion: tokenfed.io/v1alpha1\nkind: Configuration\n"

// validConfig is valid, and names files that need not exist.
const validConfig = configHeader + `server:
  tlsCertFile: /nonexistent/tls.crt
  tlsPrivateKeyFile: /nonexistent/tls.key
callers:
  allowAnonymous: true
issuers:
- name: hub
  url: https://hub.example.com
  upstream:
    kubeconfig: /nonexistent/hub.kubeconfig
`

// brokenConfig has decoding errors and validation errors; the
// validation errors about fields in error are not repeated.
const brokenConfig = configHeader + `server:
  readTimeout: 5parsecs
  securePort: "abc"
  securePorts: 9
  tlsCertFile: /nonexistent/tls.crt
issuers:
- name: Hub
  url: http://hub.example.com
  audiences: [hub, 5]
- name: corp
  type: OIDC
  url: https://login.example.com
  audiences: [tokenfed, tokenfed]
  claimValidationRules:
  - expression: "claims.("
`

const brokenConfigErrors = `  server.readTimeout: Invalid value: "5parsecs": time: unknown unit "parsecs" in duration "5parsecs" (a duration such as 30s, 5m or 1h30m; units ns, us, ms, s, m, h)
  server.securePort: Invalid value: "abc": expected an integer, got a string
  server.securePorts: Forbidden: unknown field; did you mean "securePort"?
  issuers[0].audiences[1]: Invalid value: 5: expected a string, got an integer
  server.tlsPrivateKeyFile: Required value: tokenfed serves HTTPS only
  issuers[0].name: Invalid value: "Hub": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')
  issuers[0].url: Invalid value: "http://hub.example.com": must be an https URL
  issuers[1].audiences[1]: Duplicate value: "tokenfed"
  issuers[1].claimValidationRules[0].expression: Invalid value: "claims.(": compilation failed: ERROR: <input>:1:8: Syntax error: no viable alternative at input '.('
     | claims.(
     | .......^
  callers.allowAnonymous: Required value: no caller credential is configured: set server.clientCAFile (callers present client certificates) or callers.tokens (callers send their own tokens); only on a network you trust, allowAnonymous: true lets anyone who can reach the port ask
`

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigValidate: exit status 0 valid, 1 invalid with every error,
// 2 when the question cannot be asked.
func TestConfigValidate(t *testing.T) {
	valid := writeConfig(t, validConfig)
	invalid := writeConfig(t, brokenConfig)
	syntax := writeConfig(t, configHeader+"server:\n  securePort: 1\n tlsCertFile: x\n")
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	for _, tc := range []struct {
		name                   string
		args                   []string
		wantCode               int
		wantStdout, wantStderr string
	}{
		{"valid", []string{"--config", valid}, 0, valid + " is valid\n", ""},
		{"invalid", []string{"--config", invalid}, 1, "", "Error: " + invalid + " has 10 errors:\n" + brokenConfigErrors},
		{"not YAML", []string{"--config", syntax}, 1, "", "Error: " + syntax + ": not valid YAML: line 4: did not find expected key\n"},
		{"empty", []string{"--config", writeConfig(t, "\n")}, 1, "", ": empty configuration\n"},
		{"a missing file", []string{"--config", missing}, 2, "", "Error: --config: cannot read it: no such file or directory\n"},
		{"no --config", nil, 2, "", "Error: --config is required\n"},
		{"an argument", []string{"--config", valid, "extra"}, 2, "", "Error: tokenfed config validate takes no arguments, got 1\n"},
		{"the file as an argument", []string{valid}, 2, "", "Error: tokenfed config validate takes no arguments, got 1; give the configuration file as --config FILE\n"},
		{"an unknown flag", []string{"--config", valid, "--strict"}, 2, "", "Error: unknown flag: --strict\n"},
		{"--config without a value", []string{"--config"}, 2, "", "Error: flag needs a value: --config\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"config", "validate"}, tc.args...)...)
			if code != tc.wantCode || stdout != tc.wantStdout || !strings.HasSuffix(stderr, tc.wantStderr) || (tc.wantStderr == "") != (stderr == "") {
				t.Errorf("got exit code %d, stdout %q, stderr:\n%s\nwant %d, %q and stderr ending in:\n%s", code, stdout, stderr, tc.wantCode, tc.wantStdout, tc.wantStderr)
			}
		})
	}
}

// TestConfigCommandRefusesMistypedCommands: `config valdate` must not
// pass for a valid file (exit 0 with the help), nor be repeated.
func TestConfigCommandRefusesMistypedCommands(t *testing.T) {
	code, stdout, stderr := runCLI(t, "config", "valdate", "--config", writeConfig(t, validConfig))
	want := "Error: unknown command; run \"tokenfed config --help\" for the commands; did you mean validate?\n"
	if code != 2 || stdout != "" || stderr != want {
		t.Errorf("got exit code %d, stdout %q, stderr %q, want 2 and %q", code, stdout, stderr, want)
	}
	if code, stdout, _ := runCLI(t, "config"); code != 0 || !strings.Contains(stdout, "validate") {
		t.Errorf("tokenfed config: got exit code %d and %q, want 0 and the help", code, stdout)
	}
}

// TestConfigDefaultsExample: the example holds every default, passes
// config validate as it is, and reads back as exactly what it shows.
func TestConfigDefaultsExample(t *testing.T) {
	code, stdout, stderr := runCLI(t, "config", "defaults")
	if code != 0 || stderr != "" {
		t.Fatalf("got exit code %d, stderr %q, want 0 and nothing", code, stderr)
	}
	golden := filepath.Join("testdata", "config-defaults.golden.yaml")
	if *update {
		if err := os.WriteFile(golden, []byte(stdout), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("reading the golden file (go test -update writes it): %v", err)
	}
	if diff := cmp.Diff(string(want), stdout); diff != "" {
		t.Errorf("config defaults changed (-want +got); go test -update if intended:\n%s", diff)
	}

	cfg, err := v1alpha1.Decode([]byte(stdout))
	if err != nil {
		t.Fatalf("decoding the example: %v", err)
	}
	if errs := v1alpha1.Validate(cfg); len(errs) > 0 {
		t.Errorf("the example is invalid: %v", errs)
	}
	if diff := cmp.Diff(exampleConfiguration(), cfg); diff != "" {
		t.Errorf("the example reads back otherwise (-printed +read):\n%s", diff)
	}
	for _, w := range []string{"policy: onFailure", "maxConcurrent: 32", "maxStaleness: 24h0m0s", `prefix: "cluster-a:" # default`, "type: OIDC", "- ES256"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("the example lacks %q", w)
		}
	}
	path := writeConfig(t, stdout)
	if code, stdout, stderr := runCLI(t, "config", "validate", "--config", path); code != 0 {
		t.Errorf("config validate of the example: got exit code %d, %q, %q, want 0", code, stdout, stderr)
	}
}

// TestConfigDefaultsFile: the file with its defaults, printed even when
// invalid, but never when it does not decode.
func TestConfigDefaultsFile(t *testing.T) {
	valid := writeConfig(t, validConfig)
	code, stdout, stderr := runCLI(t, "config", "defaults", "--config", valid)
	if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "# "+valid+" with every default filled in") {
		t.Fatalf("valid: got exit code %d, stdout %q, stderr %q, want 0 and the file", code, stdout, stderr)
	}
	got, err := v1alpha1.Decode([]byte(stdout))
	if err != nil {
		t.Fatal(err)
	}
	want, err := v1alpha1.LoadFile(valid)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("printed (-file +printed):\n%s", diff)
	}
	for _, w := range []string{"policy: onFailure", "readTimeout: 10s", `prefix: "hub:"`} {
		if !strings.Contains(stdout, w) {
			t.Errorf("printed file lacks %q:\n%s", w, stdout)
		}
	}

	// Valid YAML, invalid configuration: printed, errors on stderr.
	invalid := writeConfig(t, strings.Replace(validConfig, "allowAnonymous: true", "allowAnonymous: false", 1))
	code, stdout, stderr = runCLI(t, "config", "defaults", "--config", invalid)
	if code != 1 || !strings.Contains(stdout, "kubeconfig: /nonexistent/hub.kubeconfig") || stderr != "Error: "+invalid+" has 1 error:\n  callers.allowAnonymous: Required value: no caller credential is configured: set server.clientCAFile (callers present client certificates) or callers.tokens (callers send their own tokens); only on a network you trust, allowAnonymous: true lets anyone who can reach the port ask\n" {
		t.Errorf("invalid: got exit code %d, stdout %q, stderr %q, want 1, the file and the error", code, stdout, stderr)
	}

	// Decoding errors: what would be printed is not the file.
	undecodable := writeConfig(t, brokenConfig)
	code, stdout, stderr = runCLI(t, "config", "defaults", "--config", undecodable)
	if code != 1 || stdout != "" || stderr != "Error: "+undecodable+" has 10 errors:\n"+brokenConfigErrors {
		t.Errorf("undecodable: got exit code %d, stdout %q, stderr %q, want 1, nothing and the errors", code, stdout, stderr)
	}

	code, _, stderr = runCLI(t, "config", "defaults", "--config", filepath.Join(t.TempDir(), "missing.yaml"))
	if code != 2 || stderr != "Error: --config: cannot read it: no such file or directory\n" {
		t.Errorf("missing: got exit code %d, stderr %q, want 2", code, stderr)
	}
	code, _, stderr = runCLI(t, "config", "defaults", "--config=")
	if code != 2 || stderr != "Error: --config needs a file\n" {
		t.Errorf("--config=: got exit code %d, stderr %q, want 2", code, stderr)
	}
}

// TestConfigValidateBinary: the built binary exits with the codes.
func TestConfigValidateBinary(t *testing.T) {
	bin, err := tokenfedproc.Binary()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"config", "validate", "--config", writeConfig(t, validConfig)}, 0},
		{[]string{"config", "validate", "--config", writeConfig(t, brokenConfig)}, 1},
		{[]string{"config", "validate", "--config", writeConfig(t, validConfig), "--check-files"}, 1},
		{[]string{"config", "validate", "--config", filepath.Join(t.TempDir(), "missing.yaml")}, 2},
		{[]string{"config", "validate"}, 2},
		{[]string{"config", "defaults"}, 0},
		{[]string{"config", "defaults", "--config", writeConfig(t, brokenConfig)}, 1},
	} {
		cmd := exec.Command(bin, tc.args...)
		out, _ := cmd.CombinedOutput()
		if got := cmd.ProcessState.ExitCode(); got != tc.want {
			t.Errorf("tokenfed %s: got exit code %d, want %d:\n%s", strings.Join(tc.args, " "), got, tc.want, out)
		}
	}
}

// TestFileAsArgumentSaysWhereItGoes: `tokenfed serve config.yaml` and
// `tokenfed config defaults config.yaml` say that the file goes in
// --config, without repeating what was given.
func TestFileAsArgumentSaysWhereItGoes(t *testing.T) {
	valid := writeConfig(t, validConfig)
	for _, args := range [][]string{{"serve", valid}, {"config", "defaults", valid}} {
		_, _, stderr := runCLI(t, args...)
		if !strings.Contains(stderr, "takes no arguments, got 1; give the configuration file as --config FILE") || strings.Contains(stderr, valid) {
			t.Errorf("tokenfed %s FILE: got stderr %q, want where the file goes, without the argument", args[0], stderr)
		}
	}
}
