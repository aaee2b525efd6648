package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/tokenfed/tokenfed/pkg/testing/federation"
)

// walkthrough runs real kubectl commands and prints each with its output,
// so what the user reads is what happened.
type walkthrough struct {
	f          *federation.Federation
	tokenFile  string
	memberAnon string // kubeconfig of the member with no user: the token is the only credential
}

func newWalkthrough(f *federation.Federation, dir string) *walkthrough {
	return &walkthrough{f: f, tokenFile: filepath.Join(dir, "app.token"), memberAnon: filepath.Join(dir, "member-token.kubeconfig")}
}

const user = "hub:system:serviceaccount:demo:app"

func (w *walkthrough) run(ctx context.Context) error {
	hub, member := w.f.Hub.Kubeconfig, w.f.Member.Kubeconfig
	if err := w.writeMemberTokenKubeconfig(); err != nil {
		return err
	}
	steps := []struct {
		title  string
		argv   []string
		want   func(out string, err error) error
		secret bool // output is a credential: do not print it
	}{
		{"On the hub, create a namespace and a service account", kubectl(hub, "create", "namespace", "demo"), succeeds, false},
		{"", kubectl(hub, "-n", "demo", "create", "serviceaccount", "app"), succeeds, false},
		{"Mint a token for it, valid for the member's API audience", kubectl(hub, "-n", "demo", "create", "token", "app", "--audience", federation.MemberAudience, "--duration", "1h"), w.saveToken, true},
		{"Ask the member who the token is: tokenfed answers, with the hub's prefix", w.asToken("auth", "whoami"), contains(user), false},
		{"The member has not granted that identity anything yet", w.asToken("-n", "default", "get", "configmaps"), fails("Forbidden"), false},
		{"On the member, something to read, and a Role that grants reading it to the prefixed identity", kubectl(member, "-n", "default", "create", "configmap", "hello", "--from-literal=greeting=hello-from-the-member"), succeeds, false},
		{"", kubectl(member, "-n", "default", "create", "role", "cm-reader", "--verb=get,list", "--resource=configmaps"), succeeds, false},
		{"", kubectl(member, "-n", "default", "create", "rolebinding", "hub-app-reads-cm", "--role=cm-reader", "--user="+user), succeeds, false},
		{"Now the hub's service account can read the member's configmaps", w.asToken("-n", "default", "get", "configmaps"), contains("hello"), false},
	}
	for _, s := range steps {
		if s.title != "" {
			fmt.Printf("\n# %s\n", s.title)
		}
		out, err := runShown(ctx, s.argv, s.secret)
		if werr := s.want(out, err); werr != nil {
			return fmt.Errorf("%s: %w", strings.Join(s.argv, " "), werr)
		}
	}
	return nil
}

func kubectl(kubeconfig string, args ...string) []string {
	return append([]string{"kubectl", "--kubeconfig", kubeconfig}, args...)
}

// asToken authenticates with the token file only, through a kubeconfig
// whose user reads it, so the token never appears on a command line.
func (w *walkthrough) asToken(args ...string) []string {
	return kubectl(w.memberAnon, args...)
}

func (w *walkthrough) writeMemberTokenKubeconfig() error {
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: member
  cluster: {server: %q, certificate-authority: %q}
users:
- name: hub-app
  user: {tokenFile: %q}
contexts:
- name: member-as-hub-app
  context: {cluster: member, user: hub-app}
current-context: member-as-hub-app
`, w.f.Member.URL, w.f.Member.CAFile, w.tokenFile)
	return os.WriteFile(w.memberAnon, []byte(cfg), 0o600)
}

func (w *walkthrough) saveToken(out string, err error) error {
	if err != nil {
		return err
	}
	return os.WriteFile(w.tokenFile, []byte(strings.TrimSpace(out)), 0o600)
}

// runShown prints the command and its output; a token is never printed.
func runShown(ctx context.Context, argv []string, secret bool) (string, error) {
	fmt.Printf("$ %s\n", strings.Join(argv, " "))
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	out := stdout.String()
	if secret {
		fmt.Printf("(token written to a file, %d bytes)\n", len(strings.TrimSpace(out)))
	} else {
		fmt.Print(indent(out + lastLine(stderr.String())))
	}
	return out + stderr.String(), err
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "  " + strings.ReplaceAll(s, "\n", "\n  ") + "\n"
}

func succeeds(_ string, err error) error { return err }

func contains(want string) func(string, error) error {
	return func(out string, err error) error {
		if err != nil {
			return err
		}
		if !strings.Contains(out, want) {
			return fmt.Errorf("output lacks %q", want)
		}
		return nil
	}
}

func fails(want string) func(string, error) error {
	return func(out string, err error) error {
		if err == nil || !strings.Contains(out, want) {
			return fmt.Errorf("want a failure mentioning %q, got err=%v", want, err)
		}
		return nil
	}
}

func (w *walkthrough) printTryIt() {
	fmt.Printf(`
==> The federation is running. Try it yourself:

  hub admin:          kubectl --kubeconfig %[1]s get serviceaccounts -A
  member admin:       kubectl --kubeconfig %[2]s get rolebindings -n default
  member as hub/app:  kubectl --kubeconfig %[3]s auth whoami
  tokenfed readiness: curl --cacert %[4]s %[5]s '%[6]s/readyz?verbose'
  tokenfed metrics:   curl --cacert %[4]s %[5]s %[6]s/metrics
  tokenfed log:       %[7]s
  tokenfed config:    %[8]s (applied when edited: hot reload)

Press Ctrl-C to stop everything and clean up.
`, w.f.Hub.Kubeconfig, w.f.Member.Kubeconfig, w.memberAnon, w.f.Tokenfed.Certs.CACert, w.callerCert(), w.f.Tokenfed.URL, w.f.Tokenfed.LogFile, w.f.Tokenfed.ConfigFile)
}

// callerCert is the curl flags of the client certificate the member uses:
// /readyz details and /metrics are for authenticated callers only.
func (w *walkthrough) callerCert() string {
	c := w.f.Tokenfed.Certs
	return fmt.Sprintf("--cert %s --key %s", c.ClientCert, c.ClientKey)
}
