package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
	authv1 "k8s.io/api/authentication/v1"

	"github.com/tokenfed/tokenfed/hack/edge/edgeapi"
	"github.com/tokenfed/tokenfed/pkg/client"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// TestEdge: the device story of docs/edge.md against a real hub. One hub
// and one tokenfed serve every subtest. The edge API (hack/edge/edgeapi)
// runs in the test behind httpauth and grpcauth, and asks tokenfed with a
// pkg/client.Client whose caller credential is its own hub token, minted
// for tokenfed, in a file laid out as the kubelet projects it. Device
// tokens come from the hub's TokenRequest API.
func TestEdge(t *testing.T) {
	hub := startUpstreamHub(t)
	e := startEdge(t, hub)
	t.Run("HTTP", e.testHTTP)
	t.Run("gRPC", e.testGRPC)
	t.Run("tokenfed review", e.testReviewCLI)
	t.Run("caller token rotation", e.testCallerTokenRotation)
	t.Run("curl", e.testCurl)
}

func (e *edgeEnv) testHTTP(t *testing.T) {
	t.Run("a device token for the edge audience is the device", func(t *testing.T) {
		a := e.edgeGet(t, e.deviceToken)
		if a.code != http.StatusOK {
			t.Fatalf("got %d %q, want 200", a.code, a.body)
		}
		var id edgeapi.Identity
		if err := json.Unmarshal([]byte(a.body), &id); err != nil {
			t.Fatalf("decoding %q: %v", a.body, err)
		}
		wantDevice(t, id)
	})
	t.Run("a device token for another audience gets 401 invalid_token", func(t *testing.T) {
		a := e.edgeGet(t, e.otherToken)
		challenges := a.header.Values("WWW-Authenticate")
		if a.code != http.StatusUnauthorized || len(challenges) != 1 {
			t.Fatalf("got %d with challenges %q, want 401 with one", a.code, challenges)
		}
		params, err := bearerChallenge(challenges[0])
		if err != nil {
			t.Fatal(err)
		}
		if params["error"] != "invalid_token" || params["realm"] != edgeapi.DefaultRealm || params["error_description"] == "" {
			t.Errorf("got challenge parameters %q, want error invalid_token, realm %q and a description", params, edgeapi.DefaultRealm)
		}
		if strings.Contains(a.body, deviceUser) {
			t.Errorf("got body %q, want no identity", a.body)
		}
	})
}

// wantDevice fails unless id is device-1 as tokenfed names it.
func wantDevice(t *testing.T, id edgeapi.Identity) {
	t.Helper()
	if id.User != deviceUser || id.Issuer != "hub" || !slices.Equal(id.Audiences, []string{edgeAudience}) ||
		!slices.Contains(id.Groups, "hub:system:serviceaccounts:devices") {
		t.Errorf("got identity %+v, want user %q, issuer hub, audiences [%s], group hub:system:serviceaccounts:devices", id, deviceUser, edgeAudience)
	}
}

func (e *edgeEnv) testGRPC(t *testing.T) {
	for _, m := range []struct {
		name string
		call func(context.Context, *grpc.ClientConn, string) (*structpb.Struct, error)
	}{{"unary", whoAmI}, {"stream", whoAmIStream}} {
		t.Run(m.name+": a device token for the edge audience is the device", func(t *testing.T) {
			answer, err := m.call(ctx(t), e.grpc, e.deviceToken)
			if err != nil {
				t.Fatalf("got %v, want OK", err)
			}
			id, err := edgeapi.IdentityFromStruct(answer)
			if err != nil {
				t.Fatal(err)
			}
			wantDevice(t, id)
		})
		t.Run(m.name+": a device token for another audience is Unauthenticated", func(t *testing.T) {
			_, err := m.call(ctx(t), e.grpc, e.otherToken)
			if status.Code(err) != codes.Unauthenticated || !strings.Contains(status.Convert(err).Message(), "invalid") {
				t.Fatalf("got %v, want Unauthenticated saying the token is invalid", err)
			}
		})
	}
}

func whoAmI(ctx context.Context, conn *grpc.ClientConn, token string) (*structpb.Struct, error) {
	answer := &structpb.Struct{}
	return answer, conn.Invoke(ctx, edgeapi.WhoAmIMethod, &emptypb.Empty{}, answer, grpc.PerRPCCredentials(bearerCredentials(token)))
}

func whoAmIStream(ctx context.Context, conn *grpc.ClientConn, token string) (*structpb.Struct, error) {
	stream, err := conn.NewStream(ctx, &edgeapi.WhoAmIStreamDesc, edgeapi.WhoAmIStreamMethod, grpc.PerRPCCredentials(bearerCredentials(token)))
	if err != nil {
		return nil, err
	}
	if err := stream.SendMsg(&emptypb.Empty{}); err != nil {
		return nil, err
	}
	if err := stream.CloseSend(); err != nil {
		return nil, err
	}
	answer := &structpb.Struct{}
	return answer, stream.RecvMsg(answer)
}

// bearerCredentials sends a token as gRPC per-RPC credentials, over TLS
// only.
type bearerCredentials string

func (b bearerCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearerCredentials) RequireTransportSecurity() bool { return true }

// testReviewCLI runs the built `tokenfed review` as the edge API would ask
// (its caller token, the edge audience), and checks its exit statuses.
func (e *edgeEnv) testReviewCLI(t *testing.T) {
	dir := t.TempDir()
	callerToken := writeFile(t, dir, "caller.token", e.grantedToken)
	reviewArgs := func(server, tokenFile string) []string {
		return []string{"review", "--server", server, "--certificate-authority", e.tf.Certs.CACert,
			"--caller-token-file", callerToken, "--audience", edgeAudience, "--token-file", tokenFile, "--timeout", "5s"}
	}
	t.Run("a valid token: exit 0 and the user", func(t *testing.T) {
		stdout, stderr, code := runTokenfed(t, reviewArgs(e.tf.URL, writeFile(t, dir, "device.token", e.deviceToken))...)
		if code != 0 || !strings.Contains(stdout, "authenticated: "+deviceUser+"\n") || !strings.Contains(stdout, "extra: tokenfed.io/issuer=hub\n") {
			t.Fatalf("got exit %d, stdout %q, stderr %q; want 0 and authenticated: %s", code, stdout, stderr, deviceUser)
		}
	})
	t.Run("a token for another audience: exit 1", func(t *testing.T) {
		stdout, stderr, code := runTokenfed(t, reviewArgs(e.tf.URL, writeFile(t, dir, "other.token", e.otherToken))...)
		if code != 1 || !strings.HasPrefix(stdout, "not authenticated") {
			t.Fatalf("got exit %d, stdout %q, stderr %q; want 1 and not authenticated", code, stdout, stderr)
		}
	})
	t.Run("tokenfed unreachable: exit 2", func(t *testing.T) {
		port, err := tokenfedproc.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		stdout, stderr, code := runTokenfed(t, reviewArgs("https://127.0.0.1:"+strconv.Itoa(port), filepath.Join(dir, "device.token"))...)
		if code != 2 || stdout != "" || stderr == "" {
			t.Fatalf("got exit %d, stdout %q, stderr %q; want 2 and the reason on stderr", code, stdout, stderr)
		}
	})
}

// runTokenfed runs the built tokenfed binary; its output holds no token.
func runTokenfed(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	bin, err := tokenfedproc.Binary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx(t), bin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running tokenfed %s: %v", args[0], err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testCallerTokenRotation replaces the edge API's caller token file while
// it runs, as the kubelet does, with the token of a ServiceAccount that
// tokenfed's policy does not grant: the very next device request must
// fail because of the new token, and work again once the granted token is
// back. A client that kept the old token would pass neither half.
func (e *edgeEnv) testCallerTokenRotation(t *testing.T) {
	if a := e.edgeGet(t, e.deviceToken); a.code != http.StatusOK {
		t.Fatalf("before the rotation: got %d %q, want 200", a.code, a.body)
	}
	forbidden, allowed := decisions("none", "forbidden"), decisions("edge-api", "allowed")

	e.callerToken.swap(t, e.intruderToken)
	delta := grew(t, e.operator, e.tf, []string{forbidden}, func() {
		a := e.edgeGet(t, e.deviceToken)
		if a.code != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" {
			t.Errorf("HTTP with a caller token without a grant: got %d (Retry-After %q), want 503 with Retry-After", a.code, a.header.Get("Retry-After"))
		}
		if _, err := whoAmI(ctx(t), e.grpc, e.deviceToken); status.Code(err) != codes.Unavailable {
			t.Errorf("gRPC with a caller token without a grant: got %v, want Unavailable", err)
		}
		_, err := e.tfClient.Review(ctx(t), e.deviceToken, edgeAudience)
		var refused *client.CallerRefusedError
		if !errors.Is(err, client.ErrCallerRefused) || !errors.As(err, &refused) || refused.Code != http.StatusForbidden {
			t.Errorf("Review with a caller token without a grant: got %v, want ErrCallerRefused with 403", err)
		}
	})
	wantDelta(t, delta, forbidden, 3, "three reviews with the intruder's caller token")

	e.callerToken.swap(t, e.grantedToken)
	delta = grew(t, e.operator, e.tf, []string{allowed}, func() {
		if a := e.edgeGet(t, e.deviceToken); a.code != http.StatusOK {
			t.Errorf("after swapping the granted token back: got %d %q, want 200", a.code, a.body)
		}
	})
	wantDelta(t, delta, allowed, 1, "one review with the granted caller token")
}

// testCurl runs the curl snippets of docs/apps.md as they are written, in
// bash, against tokenfed.
func (e *edgeEnv) testCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatalf("curl is needed to test the snippets of docs/apps.md (apt-get install curl): %v", err)
	}
	doc, err := os.ReadFile(filepath.Join(tokenfedproc.RepoRoot(), "docs", "apps.md"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, dir, "caller.token", e.grantedToken)
	for _, name := range []string{"client.crt", "client.key"} {
		if err := os.Symlink(filepath.Join(filepath.Dir(e.tf.Certs.ClientCert), name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, heading := range []string{"### curl, with the app's own token", "### curl, with a client certificate"} {
		snippet := docSnippet(t, doc, heading)
		t.Run(strings.TrimPrefix(heading, "### curl, "), func(t *testing.T) {
			writeFile(t, dir, "device.token", e.deviceToken)
			st := e.curl(t, dir, snippet)
			if !st.Authenticated || st.User.Username != deviceUser || !slices.Equal(st.Audiences, []string{edgeAudience}) {
				t.Fatalf("a device token: got %+v, want %s for [%s]", st, deviceUser, edgeAudience)
			}
			writeFile(t, dir, "device.token", e.otherToken)
			if st := e.curl(t, dir, snippet); st.Authenticated || st.Error == "" {
				t.Fatalf("a token for another audience: got %+v, want authenticated: false with a reason", st)
			}
		})
	}
}

// docSnippet is the first ```bash block after heading in doc.
func docSnippet(t *testing.T, doc []byte, heading string) string {
	t.Helper()
	m := regexp.MustCompile("(?s)" + regexp.QuoteMeta(heading) + "\n\n```bash\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatalf("docs/apps.md: no bash block after %q", heading)
	}
	return string(m[1])
}

// curl runs snippet with bash in dir and decodes the TokenReview it prints.
func (e *edgeEnv) curl(t *testing.T, dir, snippet string) *authv1.TokenReviewStatus {
	t.Helper()
	cmd := exec.CommandContext(ctx(t), "bash", "-euo", "pipefail", "-c", snippet)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TOKENFED="+e.tf.URL, "TOKENFED_CA="+e.tf.Certs.CACert, "AUDIENCE="+edgeAudience)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("the snippet: %v\nstdout %q\nstderr %q", err, out.String(), errOut.String())
	}
	var review authv1.TokenReview
	if err := json.Unmarshal(out.Bytes(), &review); err != nil {
		t.Fatalf("the snippet printed %q: %v", out.String(), err)
	}
	return &review.Status
}
