package main

import (
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fakeTokenfed is a TLS server answering every review with st, and the
// flags that reach it.
func fakeTokenfed(t *testing.T, st authenticationv1.TokenReviewStatus) []string {
	t.Helper()
	return fakeServer(t, func(w http.ResponseWriter) {
		_ = json.NewEncoder(w).Encode(authenticationv1.TokenReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "TokenReview"},
			Status:   st,
		})
	})
}

// fakeServer is a TLS server answering every request with answer, and the
// flags that reach it.
func fakeServer(t *testing.T, answer func(http.ResponseWriter)) []string {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		answer(w)
	}))
	t.Cleanup(srv.Close)
	ca := writeTemp(t, "ca.crt", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	return []string{"--server", srv.URL, "--certificate-authority", ca}
}

// TestNoCommandEchoesArguments: a token typed where it does not belong is
// never printed. `tokenfed review $TOKEN` (the natural mistake), the
// command name forgotten, a token that starts with "-" (read as
// shorthand flags), a token as the value of a flag that refuses it, or as
// the --token-file path: each is refused, with exit status 2 for review
// (1 would say "not authenticated") and config (1 would say "invalid") and
// 1 for the others, and with words
// that name the flag or say what to do, never the argument.
func TestNoCommandEchoesArguments(t *testing.T) {
	jwt := mint(t, appAudience)
	const dashed = "-Zq9xK3opaqueTokenThatStartsWithADash"
	for _, tc := range []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"review, the token as the argument", []string{"review", jwt}, exitFailed, "pass the token with --token-file, stdin or --token"},
		{"review, stdin and the token", []string{"review", "-", jwt}, exitFailed, "pass the token with --token-file, stdin or --token"},
		{"review, a token that starts with -", []string{"review", dashed}, exitFailed, "never as an argument"},
		{"review, the token as --timeout", []string{"review", "--timeout", jwt}, exitFailed, "invalid value for --timeout: want a duration"},
		{"review, the token as --output", []string{"review", "--token", "x", "-o", jwt}, exitFailed, "--output must be json or yaml"},
		{"review, the token as --token-file", []string{"review", "--token-file", jwt}, exitFailed, "--token-file: cannot open it: "},
		{"review, the token as --caller-token-file", []string{"review", "--token", "x", "--server", "https://127.0.0.1:1", "--caller-token-file", jwt}, exitFailed, "--caller-token-file: cannot open it: "},
		{"webhook-kubeconfig, the token as --caller-token-file", []string{"webhook-kubeconfig", "--server", "https://t", "--caller-token-file", jwt}, 1, "--caller-token-file: cannot read it: "},
		{"review, the token as an unknown flag", []string{"review", "--" + jwt}, exitFailed, "unknown flag"},
		{"no command", []string{jwt}, 1, `unknown command; run "tokenfed --help"`},
		{"no command, a token that starts with -", []string{dashed}, 1, "never as an argument"},
		{"help", []string{"help", jwt}, 0, ""},
		{"webhook-kubeconfig", []string{"webhook-kubeconfig", "--server", "https://t", jwt}, 1, "takes no arguments"},
		{"webhook-kubeconfig, the token as --embed-certs", []string{"webhook-kubeconfig", "--embed-certs=" + jwt}, 1, "invalid value for --embed-certs: want a bool"},
		{"config validate", []string{"config", "validate", jwt}, exitConfigUsage, "takes no arguments"},
		{"config, the token as the command", []string{"config", jwt}, exitConfigUsage, `unknown command; run "tokenfed config --help"`},
		{"config validate, the token as --config", []string{"config", "validate", "--config", jwt}, exitConfigUsage, "--config: cannot read it: "},
		{"serve", []string{"serve", jwt}, 1, "takes no arguments"},
		{"serve, the token as --secure-port", []string{"serve", "--secure-port", jwt}, 1, "invalid value for --secure-port"},
		{"version", []string{"version", jwt}, 1, "takes no arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runReview("", tc.args...)

			if code != tc.wantCode || !strings.Contains(stderr, tc.wantStderr) {
				t.Errorf("got exit code %d and stderr %q, want %d and %q", code, stderr, tc.wantCode, tc.wantStderr)
			}
			checkNoToken(t, stdout+stderr, jwt)
			if strings.Contains(stdout+stderr, dashed[1:9]) {
				t.Fatalf("got output that quotes the token that starts with -:\n%s", stdout+stderr)
			}
		})
	}
}

// failingWriter is a standard output that cannot be written, as a full
// disk or a closed pipe is.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestReviewUnprintedAnswerExitsTwo: exit status 1 means "not
// authenticated", 2 "anything else". An answer that cannot be written
// (stdout on a full disk, a closed pipe) is "anything else" whatever the
// answer was: a script must not take an authenticated token for a
// rejected one.
func TestReviewUnprintedAnswerExitsTwo(t *testing.T) {
	for _, st := range []authenticationv1.TokenReviewStatus{
		{Authenticated: true, User: authenticationv1.UserInfo{Username: "hub:system:serviceaccount:devices:device-1"}},
		{Error: "invalid token"},
	} {
		for _, output := range []string{"", "json", "yaml"} {
			conn := fakeTokenfed(t, st)
			root := newRootCommand()
			root.SetArgs(append([]string{"review", "--token", "opaque-token-unprinted", "-o", output}, conn...))
			root.SetOut(failingWriter{})
			var errOut strings.Builder
			root.SetErr(&errOut)

			if code := run(root); code != exitFailed || !strings.Contains(errOut.String(), "no space left on device") {
				t.Errorf("authenticated %v, -o %q: got exit code %d and %q, want %d and the write error", st.Authenticated, output, code, errOut.String(), exitFailed)
			}
		}
	}
}

// TestReviewKeepsEachFieldOnItsLine: the default output is "a line per
// field", which scripts read with grep. A value that is not plain (a
// newline, a carriage return, a terminal escape, a quote, its list's
// separator) is printed Go-quoted, so it cannot add a line (here a
// "groups:" line for groups the user does not have), hide its own, or
// pass for two values.
func TestReviewKeepsEachFieldOnItsLine(t *testing.T) {
	conn := fakeTokenfed(t, authenticationv1.TokenReviewStatus{
		Authenticated: true,
		User: authenticationv1.UserInfo{
			Username: "oidc:mallory\ngroups: oidc:admins",
			UID:      "uid-1\rauthenticated: oidc:admin",
			Groups:   []string{"oidc:a, oidc:b", "oidc:c", `"oidc:d"`, "oidc:\u2028e", "oidc:\u202ef", ""},
			Extra:    map[string]authenticationv1.ExtraValue{"k=v": {"x\ny", "plain"}, "tokenfed.io/issuer": {"oidc"}},
		},
		Audiences: []string{"https://api.shop.example", "aud\x1b[2J"},
	})

	code, stdout, stderr := runReview("", append([]string{"review", "--token", "opaque-token-injection"}, conn...)...)

	want := `authenticated: "oidc:mallory\ngroups: oidc:admins"
uid: "uid-1\rauthenticated: oidc:admin"
groups: "oidc:a, oidc:b", oidc:c, "\"oidc:d\"", "oidc:\u2028e", "oidc:\u202ef", ""
audiences: https://api.shop.example, "aud\x1b[2J"
extra: "k=v"="x\ny",plain
extra: tokenfed.io/issuer=oidc
`
	if code != 0 || stdout != want {
		t.Fatalf("got exit code %d, stdout:\n%s\nstderr: %s\nwant 0 and:\n%s", code, stdout, stderr, want)
	}
}

// TestReviewReasonsStayOnOneLine: tokenfed's words (the reason a token is
// not authenticated, the message of a refusal) are printed on one line.
func TestReviewReasonsStayOnOneLine(t *testing.T) {
	t.Run("not authenticated", func(t *testing.T) {
		conn := fakeTokenfed(t, authenticationv1.TokenReviewStatus{Error: "expired\nauthenticated: oidc:admin"})

		code, stdout, _ := runReview("", append([]string{"review", "--token", "opaque-token-reason"}, conn...)...)

		if want := "not authenticated: \"expired\\nauthenticated: oidc:admin\"\n"; code != exitNotAuthenticated || stdout != want {
			t.Fatalf("got exit code %d and stdout %q, want %d and %q", code, stdout, exitNotAuthenticated, want)
		}
	})
	t.Run("refused", func(t *testing.T) {
		conn := fakeServer(t, func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusForbidden)
			_ = json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 403,
				"message": "no grant\nauthenticated: oidc:admin"})
		})

		code, stdout, stderr := runReview("", append([]string{"review", "--token", "opaque-token-refused"}, conn...)...)

		if code != exitFailed || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "Error: ") {
			t.Fatalf("got exit code %d, stdout %q and stderr %q; want %d and one line on stderr", code, stdout, stderr, exitFailed)
		}
	})
}
