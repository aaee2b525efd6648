package e2e

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/federation"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// TestWebhookKubeconfigCLI: what `tokenfed webhook-kubeconfig` writes is,
// as it is, a member kube-apiserver's --authentication-token-webhook-config-file.
// One hub, one tokenfed and one member; the member restarts (etcd stays)
// with each kubeconfig the real binary wrote:
//   - by path, from paths given relative to the certificates' directory
//     and written to another one, so that only absolute paths can work;
//   - embedded, from standard output (with the warning that a key is
//     printed);
//   - with a caller certificate of tokenfed's CA that no policy names, and
//     with no caller certificate at all: tokenfed refuses the member, and
//     so the member refuses the hub token.
func TestWebhookKubeconfigCLI(t *testing.T) {
	hub := startUpstreamHub(t)
	cfg := v1alpha1.Configuration{Issuers: []v1alpha1.Issuer{federation.HubIssuer("hub", hub)}}
	memberPolicies(&cfg, hub)
	e := &cliEnv{p: startCallersTokenfed(t, "cli", cfg), outDir: t.TempDir()}
	e.operator = certClient(t, e.p, operatorCN)
	e.certDir = filepath.Dir(e.p.Certs.CACert)
	e.hubToken = hubTokenForMember(t, &federation.Federation{Hub: hub}, "team-a", "app")

	byPath := e.write(t, "by-path.kubeconfig", "--client-certificate", "client.crt", "--client-key", "client.key")
	e.member = controlplane.StartT(t, controlplane.Options{
		Name: "member", Dir: filepath.Join(t.TempDir(), "member"),
		APIAudiences: []string{federation.MemberAudience},
		Webhook:      &controlplane.WebhookOptions{KubeconfigFile: byPath, Version: "v1"},
	})
	t.Run("by path", func(t *testing.T) { e.wantLogin(t, byPath) })

	t.Run("embedded", func(t *testing.T) {
		e.wantLogin(t, e.restartWith(t, e.print(t, "embedded.kubeconfig", "--client-certificate", "client.crt", "--client-key", "client.key", "--embed-certs")))
	})

	t.Run("a caller certificate no policy names is refused", func(t *testing.T) {
		cert, key := e.issue(t, strangerCN)
		kubeconfig := e.restartWith(t, e.write(t, "stranger.kubeconfig", "--client-certificate", cert, "--client-key", key, "--embed-certs"))
		e.wantRefused(t, kubeconfig, "forbidden")
	})

	t.Run("no caller certificate is refused", func(t *testing.T) {
		path := filepath.Join(e.outDir, "anonymous.kubeconfig")
		_, stderr := e.run(t, "-o", path)
		if want := "Warning: no --client-certificate or --caller-token-file"; !strings.Contains(stderr, want) {
			t.Errorf("got stderr %q, want %q", stderr, want)
		}
		e.wantRefused(t, e.restartWith(t, e.remember(t, path)), "unauthenticated")
	})
}

// cliEnv is the hub's tokenfed, the member, and what the CLI wrote.
type cliEnv struct {
	p        *tokenfedproc.Process
	operator *http.Client
	member   *controlplane.ControlPlane
	hubToken string
	// certDir holds tokenfed's development certificates; the CLI runs
	// there. outDir is where its kubeconfigs go.
	certDir, outDir string
	// written is each kubeconfig as the CLI produced it.
	written map[string][]byte
}

// run runs the built `tokenfed webhook-kubeconfig` in certDir against
// tokenfed's URL (no path: the CLI adds /authenticate) and CA, given
// relative, and returns its standard output and error. Standard output is
// never logged: an embedded kubeconfig holds a private key.
func (e *cliEnv) run(t *testing.T, args ...string) (stdout []byte, stderr string) {
	t.Helper()
	bin, err := tokenfedproc.Binary()
	if err != nil {
		t.Fatal(err)
	}
	args = append([]string{"webhook-kubeconfig", "--server", e.p.URL, "--certificate-authority", "ca.crt"}, args...)
	cmd := exec.CommandContext(ctx(t), bin, args...)
	cmd.Dir = e.certDir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("tokenfed %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.Bytes(), errOut.String()
}

// cli is run, for a kubeconfig with a caller certificate: nothing on
// standard error.
func (e *cliEnv) cli(t *testing.T, args ...string) []byte {
	t.Helper()
	out, stderr := e.run(t, args...)
	if stderr != "" {
		t.Fatalf("tokenfed webhook-kubeconfig %s: got stderr %q, want none", strings.Join(args, " "), stderr)
	}
	return out
}

// write has the CLI write name in outDir with -o, and checks its mode.
func (e *cliEnv) write(t *testing.T, name string, args ...string) string {
	t.Helper()
	path := filepath.Join(e.outDir, name)
	if out := e.cli(t, append(args, "-o", path)...); len(out) > 0 {
		t.Fatalf("got %d bytes on stdout with -o, want none", len(out))
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("%s: got mode %v, want 0600", path, info.Mode().Perm())
	}
	return e.remember(t, path)
}

// print has the CLI print a kubeconfig, and copies its standard output,
// byte for byte, to name in outDir. With an embedded key, standard output
// (a pipe) comes with the CLI's one warning that it is not a 0600 file;
// otherwise, as cli, with nothing on standard error.
func (e *cliEnv) print(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, stderr := e.run(t, args...)
	want := ""
	if slices.Contains(args, "--embed-certs") && slices.Contains(args, "--client-key") {
		want = "Warning: the kubeconfig holds the private key of --client-key; a file a shell redirect creates gets the umask's mode (often 0644), not 0600: prefer -o FILE\n"
	}
	if stderr != want {
		t.Fatalf("tokenfed webhook-kubeconfig %s: got stderr %q, want %q", strings.Join(args, " "), stderr, want)
	}
	path := filepath.Join(e.outDir, name)
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return e.remember(t, path)
}

func (e *cliEnv) remember(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if e.written == nil {
		e.written = map[string][]byte{}
	}
	e.written[path] = data
	return path
}

// issue signs a caller certificate for cn with tokenfed's CA, into outDir.
func (e *cliEnv) issue(t *testing.T, cn string) (cert, key string) {
	t.Helper()
	certPEM, keyPEM, err := callerCA(t, e.p.Certs).Issue(cn, nil, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(e.outDir, cn+".crt"), filepath.Join(e.outDir, cn+".key")
	for path, data := range map[string][]byte{cert: certPEM, key: keyPEM} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cert, key
}

func (e *cliEnv) restartWith(t *testing.T, kubeconfig string) string {
	t.Helper()
	err := e.member.Restart(ctx(t), func(o *controlplane.Options) { o.Webhook.KubeconfigFile = kubeconfig })
	if err != nil {
		t.Fatal(err)
	}
	return kubeconfig
}

// wantLogin fails unless the hub token logs in on the member as the
// prefixed hub user, through tokenfed, which admitted the member by the
// certificate in kubeconfig.
func (e *cliEnv) wantLogin(t *testing.T, kubeconfig string) {
	t.Helper()
	allowed := decisions("members", "allowed")
	delta := grew(t, e.operator, e.p, []string{allowed}, func() {
		user := wantLogin(t, e.member, e.hubToken, "hub:system:serviceaccount:team-a:app", "member with "+filepath.Base(kubeconfig))
		if got := user.Extra["tokenfed.io/issuer"]; !slices.Equal(got, []string{"hub"}) {
			t.Errorf("got extra tokenfed.io/issuer %q, want [hub]", got)
		}
	})
	if delta[allowed] < 1 {
		t.Fatalf("%s grew by %v, want at least 1", allowed, delta[allowed])
	}
	e.wantUsedAsIs(t, kubeconfig)
}

// wantRefused fails unless the member refuses the hub token because
// tokenfed refused the member, with outcome, as the caller that
// kubeconfig makes it.
func (e *cliEnv) wantRefused(t *testing.T, kubeconfig, outcome string) {
	t.Helper()
	series := decisions("none", outcome)
	delta := grew(t, e.operator, e.p, []string{series}, func() {
		wantUnauthorized(t, e.member, e.hubToken, "member with "+filepath.Base(kubeconfig))
	})
	if delta[series] < 1 {
		t.Fatalf("%s grew by %v, want at least 1: tokenfed must have refused the member", series, delta[series])
	}
	e.wantUsedAsIs(t, kubeconfig)
}

// wantUsedAsIs fails unless the member runs with kubeconfig itself as its
// webhook config file, and the file still holds what the CLI produced.
func (e *cliEnv) wantUsedAsIs(t *testing.T, kubeconfig string) {
	t.Helper()
	flag := "--authentication-token-webhook-config-file=" + kubeconfig
	if args := e.member.Args(); !slices.Contains(args, flag) {
		t.Fatalf("member kube-apiserver args %q: want %s", args, flag)
	}
	data, err := os.ReadFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, e.written[kubeconfig]) {
		t.Fatalf("%s changed after the CLI wrote it; want it used as it is", kubeconfig)
	}
}
