package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	"sigs.k8s.io/yaml"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/staticissuer"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

const appAudience = "https://api.shop.example"

var hub = func() *staticissuer.Issuer {
	is, err := staticissuer.New("hub")
	if err != nil {
		panic(err)
	}
	return is
}()

// startTokenfed starts a real tokenfed that trusts hub and takes the
// development client certificate as its caller.
func startTokenfed(t *testing.T) *tokenfedproc.Process {
	t.Helper()
	p, err := tokenfedproc.Start(context.Background(), tokenfedproc.Options{
		Dir: t.TempDir(), Config: v1alpha1.Configuration{Issuers: []v1alpha1.Issuer{hub.Config()}},
	})
	if err != nil {
		t.Fatalf("starting tokenfed: %v", err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("tokenfed log:\n%s", p.LogTail(40))
		}
	})
	return p
}

func mint(t *testing.T, audience string) string {
	t.Helper()
	tok, err := hub.Token(staticissuer.Claims{Namespace: "devices", ServiceAccount: "device-1", Audiences: []string{audience}})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// runReview runs `tokenfed args...` in this process with stdin, as main
// does, and returns the exit code and output.
func runReview(stdin string, args ...string) (code int, stdout, stderr string) {
	cmd := newRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	code = run(cmd)
	return code, out.String(), errOut.String()
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReviewExitCodes: 0 for a token tokenfed authenticates, 1 for one it
// does not, 2 when it cannot be asked or the command is wrong. Nothing
// printed quotes the token.
func TestReviewExitCodes(t *testing.T) {
	p := startTokenfed(t)
	valid, otherAudience := mint(t, appAudience), mint(t, "https://elsewhere.example")
	conn := []string{"--server", p.URL, "--certificate-authority", p.Certs.CACert,
		"--client-certificate", p.Certs.ClientCert, "--client-key", p.Certs.ClientKey}
	closedPort, err := tokenfedproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	validFile := writeTemp(t, "token", valid+"\n")
	rejectedFile := writeTemp(t, "rejected", otherAudience+"\n")
	for _, tc := range []struct {
		name       string
		stdin      string
		args       []string
		wantCode   int
		wantStdout []string
		wantStderr string
	}{
		{
			name: "authenticated, from stdin", stdin: valid + "\n",
			args:     append([]string{"review", "-", "--audience", appAudience}, conn...),
			wantCode: 0,
			wantStdout: []string{
				"authenticated: hub:system:serviceaccount:devices:device-1\n",
				"groups: hub:system:serviceaccounts, hub:system:serviceaccounts:devices\n",
				"audiences: " + appAudience + "\n",
				"extra: tokenfed.io/issuer=hub\n",
			},
		},
		{
			name:       "stdin that is not a terminal, without -",
			stdin:      valid,
			args:       append([]string{"review", "--audience", appAudience}, conn...),
			wantCode:   0,
			wantStdout: []string{"authenticated: hub:system:serviceaccount:devices:device-1\n"},
		},
		{
			name:       "not authenticated: another audience",
			args:       append([]string{"review", "--token-file", rejectedFile, "--audience", appAudience}, conn...),
			wantCode:   1,
			wantStdout: []string{"not authenticated: "},
		},
		{
			name:       "unreachable",
			args:       []string{"review", "--token-file", validFile, "--server", "https://127.0.0.1:" + strconv.Itoa(closedPort), "--certificate-authority", p.Certs.CACert},
			wantCode:   2,
			wantStderr: "Error: tokenfed is unavailable: no answer: ",
		},
		{
			name:       "caller refused: no client certificate",
			args:       []string{"review", "--token-file", validFile, "--server", p.URL, "--certificate-authority", p.Certs.CACert},
			wantCode:   2,
			wantStderr: "Error: tokenfed refused this caller: HTTP 401 Unauthorized",
		},
		{
			name:       "bad output",
			args:       append([]string{"review", "--token-file", validFile, "-o", "xml"}, conn...),
			wantCode:   2,
			wantStderr: "Error: --output must be json or yaml",
		},
		{
			name:       "unknown flag",
			args:       append([]string{"review", "--token-file", validFile, "--nope"}, conn...),
			wantCode:   2,
			wantStderr: "Error: unknown flag: --nope",
		},
		{
			name:       "two token sources",
			stdin:      valid,
			args:       append([]string{"review", "-", "--token-file", validFile}, conn...),
			wantCode:   2,
			wantStderr: "Error: give the token one way",
		},
		{
			name:       "empty token",
			args:       append([]string{"review", "-"}, conn...),
			wantCode:   2,
			wantStderr: "Error: the token is empty",
		},
		{
			name:       "kubeconfig and server",
			args:       []string{"review", "--token-file", validFile, "--kubeconfig", "webhook.kubeconfig", "--server", p.URL},
			wantCode:   2,
			wantStderr: "exclude each other",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runReview(tc.stdin, tc.args...)

			if code != tc.wantCode {
				t.Errorf("got exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, stdout, stderr)
			}
			for _, want := range tc.wantStdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("got stdout %q, want it to contain %q", stdout, want)
				}
			}
			if !strings.Contains(stderr, tc.wantStderr) || tc.wantStderr == "" && stderr != "" {
				t.Errorf("got stderr %q, want %q", stderr, tc.wantStderr)
			}
			checkNoToken(t, stdout+stderr, valid, otherAudience)
		})
	}
}

// TestReviewOutput: -o json and -o yaml print the TokenReview status, for
// either answer.
func TestReviewOutput(t *testing.T) {
	p := startTokenfed(t)
	kubeconfig := filepath.Join(t.TempDir(), "webhook.kubeconfig")
	if err := p.WriteWebhookKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		output, audience string
		wantCode         int
		wantAuth         bool
	}{
		{"json", appAudience, 0, true},
		{"yaml", appAudience, 0, true},
		{"json", "https://elsewhere.example", 1, false},
		{"yaml", "https://elsewhere.example", 1, false},
	} {
		t.Run(tc.output+" "+strconv.FormatBool(tc.wantAuth), func(t *testing.T) {
			token := mint(t, tc.audience)

			code, stdout, stderr := runReview(token, "review", "--kubeconfig", kubeconfig, "--audience", appAudience, "-o", tc.output)

			if code != tc.wantCode {
				t.Fatalf("got exit code %d, want %d (stderr %s)", code, tc.wantCode, stderr)
			}
			var st authenticationv1.TokenReviewStatus
			unmarshal := json.Unmarshal
			if tc.output == "yaml" {
				unmarshal = func(b []byte, v any) error { return yaml.UnmarshalStrict(b, v) }
			}
			if err := unmarshal([]byte(stdout), &st); err != nil {
				t.Fatalf("got %s output %q: %v", tc.output, stdout, err)
			}
			switch {
			case st.Authenticated != tc.wantAuth:
				t.Fatalf("got authenticated %v, want %v: %s", st.Authenticated, tc.wantAuth, stdout)
			case tc.wantAuth && (st.User.Username != hub.Username("devices", "device-1") || len(st.Audiences) != 1 || st.Audiences[0] != appAudience):
				t.Fatalf("got %+v, want hub's devices/device-1 for [%s]", st, appAudience)
			case !tc.wantAuth && st.Error == "":
				t.Fatalf("got %+v, want tokenfed's reason in error", st)
			}
			checkNoToken(t, stdout+stderr, token)
		})
	}
}

// TestOtherCommandsExitOne: commands other than review and config (see
// TestConfigValidate) still exit 1 on any error.
func TestOtherCommandsExitOne(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--config", filepath.Join(t.TempDir(), "missing.yaml")},
		{"serve", "--nope"},
		{"nope"},
	} {
		if code, _, stderr := runReview("", args...); code != 1 || !strings.HasPrefix(stderr, "Error: ") {
			t.Errorf("tokenfed %q: got exit code %d and stderr %q, want 1 and the error", args, code, stderr)
		}
	}
}

// TestReviewBinary: the built binary exits with the codes, reading the
// token from a real pipe.
func TestReviewBinary(t *testing.T) {
	p := startTokenfed(t)
	bin, err := tokenfedproc.Binary()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "webhook.kubeconfig")
	if err := p.WriteWebhookKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		audience string
		want     int
	}{{appAudience, 0}, {"https://elsewhere.example", 1}} {
		token := mint(t, tc.audience)
		cmd := exec.Command(bin, "review", "--kubeconfig", kubeconfig, "--audience", appAudience)
		cmd.Stdin = strings.NewReader(token + "\n") // a pipe, to the process
		out, _ := cmd.CombinedOutput()

		if got := cmd.ProcessState.ExitCode(); got != tc.want {
			t.Errorf("token for %s: got exit code %d, want %d: %s", tc.audience, got, tc.want, out)
		}
		checkNoToken(t, string(out), token)
	}
}

func checkNoToken(t *testing.T, out string, tokens ...string) {
	t.Helper()
	for _, tok := range tokens {
		for _, part := range strings.Split(tok, ".") {
			if strings.Contains(out, part) {
				t.Fatalf("got output that quotes a token:\n%s", out)
			}
		}
	}
}

// TestReviewNoToken: without a token flag, stdin that is a terminal (a
// character device) is not read: the command says what it needs.
func TestReviewNoToken(t *testing.T) {
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	cmd := newRootCommand()
	var errOut bytes.Buffer
	cmd.SetArgs([]string{"review", "--server", "https://127.0.0.1:1"})
	cmd.SetIn(devNull)
	cmd.SetErr(&errOut)

	if code := run(cmd); code != 2 || !strings.Contains(errOut.String(), "no token: pipe it on stdin, or give --token-file") {
		t.Fatalf("got exit code %d and %q, want 2 and the missing token", code, errOut.String())
	}
}

// TestReviewHints: the two mistakes a first review outside a cluster makes
// are answered with what to pass.
func TestReviewHints(t *testing.T) {
	p := startTokenfed(t)
	token := writeTemp(t, "token", mint(t, appAudience)+"\n")
	t.Setenv("TOKENFED_TOKEN_FILE", filepath.Join(t.TempDir(), "absent"))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{name: "no connection flags", args: []string{"review", "--token-file", token}, want: "outside a cluster, pass --server or --kubeconfig"},
		{name: "no CA", args: []string{"review", "--token-file", token, "--server", p.URL, "--client-certificate", p.Certs.ClientCert, "--client-key", p.Certs.ClientKey}, want: "pass --certificate-authority"},
	} {
		code, _, stderr := runReview("", tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: got exit %d, stderr %q; want 2 and %q", tc.name, code, stderr, tc.want)
		}
	}
}
