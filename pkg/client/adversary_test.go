package client

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/klog/v2"

	"github.com/tokenfed/tokenfed/pkg/testing/klogtest"
)

// Answers and configurations of a broken or hostile server, or of a
// careless kubeconfig: each test states what the contract (docs/client.md,
// DESIGN.md's Secrecy) promises for one of them.

// TestAuthenticatedWithoutUsernameRefused: an answer with authenticated:
// true but no username names no user. It is a broken server's, never a
// success: ErrUnavailable, as an answer that is not a TokenReview is, and
// never a Result (or an authenticator.Response) whose user is "", which an
// application would take for an authenticated, anonymous request.
func TestAuthenticatedWithoutUsernameRefused(t *testing.T) {
	f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, rv *authenticationv1.TokenReview) {
		writeReview(w, http.StatusOK, authenticationv1.TokenReviewStatus{
			Authenticated: true,
			Audiences:     rv.Spec.Audiences,
			User:          authenticationv1.UserInfo{Groups: []string{"some-group"}},
		})
	})
	c := newClient(t, f.config())

	res, err := c.Review(ctxTimeout(t, 30*time.Second), "opaque-token-no-user", "aud")
	if err == nil {
		t.Fatalf("got success with user %q groups %q, want ErrUnavailable for an authenticated answer that names no user", res.User.GetName(), res.User.GetGroups())
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	resp, ok, err := c.AuthenticateToken(authenticator.WithAudiences(ctxTimeout(t, 30*time.Second), authenticator.Audiences{"aud"}), "opaque-token-no-user")
	if resp != nil || ok || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("AuthenticateToken: got (%v, %v, %v), want ErrUnavailable", resp, ok, err)
	}
}

// TestShortTokenQuoteWithheld: "No error, result or log line holds the
// token." A token under 16 bytes (an API key, a test token; RFC 6750's
// b64token has no minimum length) that the server quotes, in status.error,
// a Status message or a plain-text body, is withheld from the error like
// a long one, and so is all the server's text about a token under 8 bytes.
func TestShortTokenQuoteWithheld(t *testing.T) {
	const token = "Sh0rtS3cretK3y" // 14 bytes
	for _, tc := range []struct {
		name   string
		answer func(w http.ResponseWriter, token string)
	}{
		{"status.error", func(w http.ResponseWriter, token string) {
			writeReview(w, 200, authenticationv1.TokenReviewStatus{Error: "bad token " + token})
		}},
		{"429 message", func(w http.ResponseWriter, token string) { writeStatus(w, 429, "slow down, "+token) }},
		{"500 text body", func(w http.ResponseWriter, token string) {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(500)
			_, _ = io.WriteString(w, "cannot check "+token)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, rv *authenticationv1.TokenReview) {
				tc.answer(w, rv.Spec.Token)
			})
			c := newClient(t, f.config())

			for _, token := range []string{token, "S3cr3t"} {
				_, err := c.Review(ctxTimeout(t, 30*time.Second), token)

				if err == nil || strings.Contains(err.Error(), token) || !strings.Contains(err.Error(), withheld) {
					t.Fatalf("got error %v, want the server's text withheld", err)
				}
			}
		})
	}
}

// TestPartialQuoteAcrossSeparatorsWithheld: a token in the standard base64
// alphabet (or any token with '.', '+', '/' or '~' at least every 15
// bytes) that the server quotes only in part (a proxy truncating what it
// echoes) is withheld too: any 16 bytes of the token count, whatever the
// characters.
func TestPartialQuoteAcrossSeparatorsWithheld(t *testing.T) {
	token := strings.Repeat("Q2xpZW50U2Vj+/", 12) + "cmV0"
	quoted := token[:100]
	f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, _ *authenticationv1.TokenReview) {
		writeReview(w, 200, authenticationv1.TokenReviewStatus{Error: "bad token " + quoted + "..."})
	})
	c := newClient(t, f.config())

	_, err := c.Review(ctxTimeout(t, 30*time.Second), token)

	if err == nil || strings.Contains(err.Error(), quoted) {
		t.Fatalf("got error %v, which quotes 100 bytes of the token", err)
	}
}

// TestAudiencesQuotingTokenRefused: an answer any of whose strings that
// reach the caller quotes the token is refused, status.audiences as well
// as the user: a review that names no audiences gets them as they are in
// Result.Audiences, which tokenfed review prints and applications log.
func TestAudiencesQuotingTokenRefused(t *testing.T) {
	const token = "opaque-token-0123456789-in-the-audiences"
	f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, rv *authenticationv1.TokenReview) {
		st := authenticatedAs("u")
		st.Audiences = []string{rv.Spec.Token}
		writeReview(w, 200, st)
	})
	c := newClient(t, f.config())

	res, err := c.Review(ctxTimeout(t, 30*time.Second), token)

	if err == nil {
		t.Fatalf("got result audiences %q, want the answer refused", res.Audiences)
	}
	if !errors.Is(err, ErrUnavailable) || strings.Contains(err.Error(), "0123456789") {
		t.Fatalf("got %v, want ErrUnavailable without the token", err)
	}
}

// TestRetryAfterCappedWithoutOverflow: a Retry-After of more than
// math.MaxInt64 nanoseconds is capped at an hour before it becomes a
// time.Duration, so that it cannot wrap: 2^55+1 seconds would otherwise
// come out as exactly one second, and a 429 that says "come back in a
// billion years" would read "retry after 1s".
func TestRetryAfterCappedWithoutOverflow(t *testing.T) {
	const huge = "36028797018963969" // 2^55 + 1 seconds
	if got := parseRetryAfter(huge, time.Now()); got != maxRetryAfter {
		t.Errorf("parseRetryAfter(%s) = %v, want the cap %v", huge, got, maxRetryAfter)
	}
	f := newFakeServer(t, always(http.StatusTooManyRequests, huge))
	c := newClient(t, f.config())

	_, err := c.Review(ctxTimeout(t, 30*time.Second), "opaque-token-retry-after")

	var cr *CallerRefusedError
	if !errors.As(err, &cr) || cr.RetryAfter != maxRetryAfter {
		t.Fatalf("got %#v, want a CallerRefusedError with RetryAfter %v", err, maxRetryAfter)
	}
}

// writeKubeconfig writes a webhook kubeconfig for server with the given
// extra cluster and user lines.
func writeKubeconfig(t *testing.T, server, clusterExtra, userExtra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "webhook.kubeconfig")
	data := `apiVersion: v1
kind: Config
clusters:
- name: tokenfed
  cluster:
    server: ` + server + `
` + clusterExtra + `
users:
- name: app
  user:
` + userExtra + `
contexts:
- name: tokenfed
  context: {cluster: tokenfed, user: app}
current-context: tokenfed
`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestKubeconfigInsecureSkipVerifyRefused: "Only https": the client
// refuses http:// so that tokens never cross the network in the clear,
// and refuses a kubeconfig with insecure-skip-tls-verify: true, with which
// every token would go to whichever server answers the TLS handshake (any
// MITM). A plain Config cannot say it; a kubeconfig cannot either.
func TestKubeconfigInsecureSkipVerifyRefused(t *testing.T) {
	mitm := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, rv *authenticationv1.TokenReview) {
		st := authenticatedAs("u")
		st.Audiences = rv.Spec.Audiences
		writeReview(w, 200, st)
	})
	kc := writeKubeconfig(t, mitm.URL, "    insecure-skip-tls-verify: true", "    {}")

	c, err := New(Config{Kubeconfig: kc})
	if err != nil {
		if !strings.Contains(err.Error(), "insecure-skip-tls-verify is refused") {
			t.Fatalf("got %v, want an error naming insecure-skip-tls-verify", err)
		}
		return
	}
	_, _ = c.Review(ctxTimeout(t, 30*time.Second), "opaque-token-sent-unverified", "aud")
	if mitm.calls() > 0 {
		mitm.mu.Lock()
		f := mitm.reviews[0].Spec.Token
		mitm.mu.Unlock()
		t.Fatalf("the token %q went to a server whose certificate nobody verified (insecure-skip-tls-verify)", f)
	}
}

// TestKubeconfigExecPluginRefused: a webhook kubeconfig's user has "a
// client certificate, a token, or a tokenFile". An exec credential plugin
// (users[].user.exec) is refused by New: the client would run the command
// the kubeconfig names, with the application's (or tokenfed review's)
// privileges and environment, on the first review.
func TestKubeconfigExecPluginRefused(t *testing.T) {
	f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, _ *authenticationv1.TokenReview) {
		writeReview(w, 200, authenticatedAs("u"))
	})
	marker := filepath.Join(t.TempDir(), "executed")
	script := filepath.Join(t.TempDir(), "plugin.sh")
	if err := os.WriteFile(script, []byte(`#!/bin/sh
touch '`+marker+`'
echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"from-exec"}}'
`), 0o700); err != nil {
		t.Fatal(err)
	}
	kc := writeKubeconfig(t, f.URL, "    certificate-authority: "+f.caFile, `    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: `+script+`
      interactiveMode: Never`)

	c, err := New(Config{Kubeconfig: kc})
	if err == nil {
		_, _ = c.Review(ctxTimeout(t, 30*time.Second), "opaque-token-exec")
	}
	if _, statErr := os.Stat(marker); statErr == nil {
		t.Fatalf("the kubeconfig's exec plugin %s ran (New error: %v); want a webhook kubeconfig with exec refused", script, err)
	}
	if err == nil || !strings.Contains(err.Error(), "exec refused") {
		t.Fatalf("got %v, want New to say exec is refused", err)
	}
}

// TestAnswerWithoutKindRefused: "an answer that is not a TokenReview" is
// ErrUnavailable, and a 200 body with no apiVersion and no kind at all,
// only a status, is not one, however much it looks like one.
func TestAnswerWithoutKindRefused(t *testing.T) {
	f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, _ *authenticationv1.TokenReview) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":{"authenticated":true,"user":{"username":"admin","groups":["system:masters"]}}}`)
	})
	c := newClient(t, f.config())

	res, err := c.Review(ctxTimeout(t, 30*time.Second), "opaque-token-no-kind")

	if err == nil {
		t.Fatalf("got %q %q from an answer without apiVersion or kind, want ErrUnavailable", res.User.GetName(), res.User.GetGroups())
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
}

// TestContextualLoggingOffAfterNewLogsNoToken: no verbosity logs a token,
// whatever klog's contextual logging is. An application may build its
// client first and apply its logging options afterwards (component-base's
// --feature-gates=ContextualLogging=false, or klog.EnableContextualLogging
// in a library); client-go then logs with klog's global logger, not the
// request's discarding one, and it still gets no review body to log.
func TestContextualLoggingOffAfterNewLogsNoToken(t *testing.T) {
	logs := klogtest.AtV10(t)
	f := echoingServer(t, http.StatusOK)
	c := newClient(t, f.config())
	klog.EnableContextualLogging(false)
	defer klog.EnableContextualLogging(true)

	_, _ = c.Review(ctxTimeout(t, 30*time.Second), logToken)

	if out := logs.String(); strings.Contains(out, "LOGGED") {
		t.Fatalf("got a log that quotes the reviewed token (%d bytes of klog output)", len(out))
	}
}
