// Package security attacks a real tokenfed process over real TLS and HTTP:
// forged and malformed tokens, an issuer whose JWKS endpoint fails or hangs,
// and a flood of random key IDs. The issuer is a wire-level fake (an httptest
// TLS server serving discovery and a JWKS), never a mock of tokenfed's code.
package security

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/secretscan"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// TestMain runs the tests, then scans the log and answers of every
// tokenfed they started (at -v=10) for every token they made; any part of
// one fails the run.
func TestMain(m *testing.M) {
	os.Exit(secretscan.Main(m, tokenfedproc.Recorded, tokenfedproc.RemoveRecorded))
}

const (
	reviewPath = "/apis/authentication.k8s.io/v1/tokenreviews"
	// maxErrorLen is what "a short status.error" means here: enough for a
	// reason, too little to carry a token.
	maxErrorLen = 256
)

// tokenfed is a running process and the one mTLS client used against it.
type tokenfed struct {
	p *tokenfedproc.Process
	c *http.Client
}

// startTokenfed runs tokenfed with cfg and stops it at cleanup, printing its
// log when the test failed.
func startTokenfed(t *testing.T, cfg v1alpha1.Configuration) *tokenfed {
	t.Helper()
	p, err := tokenfedproc.Start(context.Background(), tokenfedproc.Options{Dir: t.TempDir(), Config: cfg})
	if err != nil {
		t.Fatalf("starting tokenfed: %v", err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("tokenfed log:\n%s", p.LogTail(40))
		}
	})
	return &tokenfed{p: p, c: p.Client()}
}

// result is one review as the caller saw it.
type result struct {
	code    int
	body    string
	status  authenticationv1.TokenReviewStatus
	latency time.Duration
}

// reviewBody is a v1 TokenReview request.
var reviewBody = tokenfedproc.ReviewBody

// do posts a review. It does not touch testing.T, so goroutines may call it.
func (tf *tokenfed) do(token string, audiences ...string) (result, error) {
	return tf.post(reviewBody(token, audiences))
}

func (tf *tokenfed) post(body []byte) (result, error) {
	a, err := tokenfedproc.PostReview(tf.c, tf.p.URL+reviewPath, body)
	return result{code: a.Code, body: a.Body, status: a.Status, latency: a.Latency}, err
}

func (tf *tokenfed) review(t *testing.T, token string, audiences ...string) result {
	t.Helper()
	r, err := tf.do(token, audiences...)
	if err != nil {
		t.Fatalf("review: %v", err)
	}
	return r
}

// get returns the status code and body of a GET.
func (tf *tokenfed) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := tf.c.Get(tf.p.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(data)
}

// metric returns the /metrics lines that start with prefix.
func (tf *tokenfed) metric(t *testing.T, prefix string) string {
	t.Helper()
	_, body := tf.get(t, "/metrics")
	var out []string
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// rejectionProblem says what is wrong with r as the answer to a token that
// must be refused, or "" when nothing is: HTTP 200, not authenticated, no
// user, and a short error that quotes no part of the token.
func rejectionProblem(r result, token, wantErr string) string {
	st := r.status
	switch {
	case r.code != http.StatusOK:
		return fmt.Sprintf("got HTTP %d (%.200s), want 200", r.code, r.body)
	case st.Authenticated || st.User.Username != "":
		return fmt.Sprintf("got authenticated=%v user %q, want a rejection", st.Authenticated, st.User.Username)
	case st.Error == "" || len(st.Error) > maxErrorLen:
		return fmt.Sprintf("got status.error %q (%d bytes), want a non-empty error of at most %d bytes", st.Error, len(st.Error), maxErrorLen)
	case !strings.Contains(st.Error, wantErr):
		return fmt.Sprintf("got status.error %q, want it to contain %q", st.Error, wantErr)
	}
	if leak := leakedPart(r.body, token); leak != "" {
		return fmt.Sprintf("got a response that quotes the token (%.40q...)", leak)
	}
	return ""
}

// leakedPart returns the token, or one of its long segments, if body contains
// it. Short tokens and segments are skipped: they match ordinary words.
func leakedPart(body, token string) string {
	if len(token) >= 8 && strings.Contains(body, token) {
		return token
	}
	for _, seg := range strings.Split(token, ".") {
		if len(seg) >= 16 && strings.Contains(body, seg) {
			return seg
		}
	}
	return ""
}

func assertRejected(t *testing.T, r result, token, wantErr string) {
	t.Helper()
	if msg := rejectionProblem(r, token, wantErr); msg != "" {
		t.Fatal(msg)
	}
}

// acceptanceProblem says what is wrong with r as the answer to a valid
// token of the fake issuer's service account, or "" when nothing is.
func acceptanceProblem(r result, jti string, wantAuds []string) string {
	st := r.status
	if r.code != http.StatusOK || !st.Authenticated || st.Error != "" {
		return fmt.Sprintf("got HTTP %d authenticated=%v error %q, want 200 and authenticated", r.code, st.Authenticated, st.Error)
	}
	want := authenticationv1.UserInfo{
		Username: "edge:" + saUsername,
		UID:      saUID,
		Groups:   []string{"edge:system:serviceaccounts", "edge:system:serviceaccounts:ns"},
		Extra: map[string]authenticationv1.ExtraValue{
			"tokenfed.io/issuer":                         {"edge"},
			"authentication.kubernetes.io/credential-id": {"JTI=" + jti},
		},
	}
	if got, _ := json.Marshal(st.User); string(got) != string(mustJSON(want)) {
		return fmt.Sprintf("got user %s, want %s", got, mustJSON(want))
	}
	if got := strings.Join(st.Audiences, ","); got != strings.Join(wantAuds, ",") {
		return fmt.Sprintf("got audiences %q, want %q", st.Audiences, wantAuds)
	}
	return ""
}

func assertAccepted(t *testing.T, r result, jti string, wantAuds []string) {
	t.Helper()
	if msg := acceptanceProblem(r, jti, wantAuds); msg != "" {
		t.Fatal(msg)
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// assertStillServing: after an attack, readiness holds, a valid token still
// passes, and no review was answered with a 5xx.
func assertStillServing(t *testing.T, tf *tokenfed, iss *fakeIssuer) {
	t.Helper()
	if code, body := tf.get(t, "/readyz"); code != http.StatusOK {
		t.Fatalf("got /readyz %d %q, want 200", code, body)
	}
	tok, jti := iss.token(t, rs256)
	assertAccepted(t, tf.review(t, tok), jti, []string{iss.URL()})
	if got := tf.metric(t, `tokenfed_tokenreview_requests_total{api_version="v1",code="5`); got != "" {
		t.Fatalf("got 5xx answers: %s, want none", got)
	}
}

// waitFor polls cond every 50ms until it holds or timeout passes; cond's
// string says what it last saw.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %s after %s, want %s", saw, timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
