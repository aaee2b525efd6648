package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
	"github.com/tokenfed/tokenfed/pkg/testing/secretscan"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// errIssuerNotGranted is status.error of a review the caller may not ask
// for: the contract text, spelled out rather than imported from callers.
const errIssuerNotGranted = "this caller may not review tokens of this issuer"

// startCallersTokenfed runs one tokenfed process with cfg and extra serve
// arguments, and stops it when t ends.
func startCallersTokenfed(t *testing.T, name string, cfg v1alpha1.Configuration, args ...string) *tokenfedproc.Process {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tokenfed-"+name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	p, err := tokenfedproc.Start(ctx(t), tokenfedproc.Options{Dir: dir, Config: cfg, Args: args})
	if err != nil {
		t.Fatalf("starting tokenfed %s: %v", name, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("tokenfed %s log:\n%s", name, p.LogTail(40))
		}
		p.Stop()
	})
	return p
}

// certClient is an HTTPS client of p that presents a client certificate
// with CN cn from p's client CA. It records answers for the token scan.
func certClient(t *testing.T, p *tokenfedproc.Process, cn string) *http.Client {
	t.Helper()
	ca := callerCA(t, p.Certs)
	certPEM, keyPEM, err := ca.Issue(cn, nil, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return clientWithCerts(p, []tls.Certificate{pair})
}

// bareClient is an HTTPS client of p that presents no certificate; with a
// bearer token (see do) it is how an application calls tokenfed.
func bareClient(p *tokenfedproc.Process) *http.Client { return clientWithCerts(p, nil) }

func clientWithCerts(p *tokenfedproc.Process, certs []tls.Certificate) *http.Client {
	c := p.Client()
	tokenfedproc.HTTPTransport(c).TLSClientConfig.Certificates = certs
	return c
}

func callerCA(t *testing.T, f devcerts.Files) *devcerts.CA {
	t.Helper()
	ca, err := devcerts.LoadCA(f)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// answer is one HTTP answer of tokenfed.
type answer struct {
	code       int
	retryAfter string
	body       string
}

// do sends method path to p with c, as bearer when it is not empty.
func do(t *testing.T, c *http.Client, p *tokenfedproc.Process, bearer, method, path string, body []byte) answer {
	t.Helper()
	a, err := send(ctx(t), c, p, bearer, method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// send is do for goroutines, which must not fail the test themselves.
func send(ctx context.Context, c *http.Client, p *tokenfedproc.Process, bearer, method, path string, body []byte) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, method, p.URL+path, bytes.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return answer{code: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(data)}, nil
}

// review posts a v1 TokenReview of token to p as the caller of c and
// bearer, and returns the answer and, on 200, its status.
func review(t *testing.T, c *http.Client, p *tokenfedproc.Process, bearer, token string) (answer, *authv1.TokenReviewStatus) {
	t.Helper()
	a, st, err := tryReview(ctx(t), c, p, bearer, token)
	if err != nil {
		t.Fatal(err)
	}
	return a, st
}

func tryReview(ctx context.Context, c *http.Client, p *tokenfedproc.Process, bearer, token string) (answer, *authv1.TokenReviewStatus, error) {
	body, err := json.Marshal(&authv1.TokenReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "TokenReview"},
		Spec:     authv1.TokenReviewSpec{Token: token},
	})
	if err != nil {
		return answer{}, nil, err
	}
	a, err := send(ctx, c, p, bearer, http.MethodPost, reviewPath, body)
	if err != nil || a.code != http.StatusOK {
		return a, nil, err
	}
	var out authv1.TokenReview
	if err := json.Unmarshal([]byte(a.body), &out); err != nil {
		return a, nil, fmt.Errorf("decoding a review answer: %w\n%s", err, a.body)
	}
	return a, &out.Status, nil
}

const reviewPath = "/apis/authentication.k8s.io/v1/tokenreviews"

// wantIssuerRefusal fails unless st is the per-issuer refusal: a 200
// answer, authenticated: false, with no user.
func wantIssuerRefusal(t *testing.T, a answer, st *authv1.TokenReviewStatus, what string) {
	t.Helper()
	if st == nil || st.Authenticated || st.Error != errIssuerNotGranted || st.User.Username != "" {
		t.Fatalf("%s: got HTTP %d %s, want 200 with authenticated: false, error %q", what, a.code, a.body, errIssuerNotGranted)
	}
}

// wantReviewUser fails unless the answer authenticates username.
func wantReviewUser(t *testing.T, a answer, st *authv1.TokenReviewStatus, username, what string) {
	t.Helper()
	if st == nil || !st.Authenticated || st.User.Username != username {
		t.Fatalf("%s: got HTTP %d %s, want 200 authenticating %q", what, a.code, a.body, username)
	}
}

// appClient is client-go pointed at tokenfed as an application calls it:
// its own bearer token and tokenfed's CA, no client certificate.
func appClient(t *testing.T, p *tokenfedproc.Process, token string) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(&rest.Config{
		Host: p.URL, BearerToken: token, QPS: -1,
		TLSClientConfig: rest.TLSClientConfig{CAFile: p.Certs.CACert},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// createTokenWithKubectl mints a token for ns/sa with `kubectl create
// token --audience`, the command docs/callers.md gives applications.
func createTokenWithKubectl(t *testing.T, cp *controlplane.ControlPlane, ns, sa, audience string) string {
	t.Helper()
	token := strings.TrimSpace(kubectlAdmin(t, "--kubeconfig", cp.Kubeconfig, "-n", ns, "create", "token", sa, "--audience", audience))
	secretscan.Register(token, "kubectl create token "+ns+"/"+sa)
	return token
}

// serviceAccounts creates namespace ns in cp and the service accounts.
func serviceAccounts(t *testing.T, cp *controlplane.ControlPlane, ns string, names ...string) {
	t.Helper()
	if _, err := cp.CreateNamespace(ctx(t), ns); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if _, err := cp.CreateServiceAccount(ctx(t), ns, name); err != nil {
			t.Fatal(err)
		}
	}
}

// scrape reads p's /metrics as the caller of c, which must be granted it.
func scrape(t *testing.T, c *http.Client, p *tokenfedproc.Process) string {
	t.Helper()
	a := do(t, c, p, "", http.MethodGet, "/metrics", nil)
	if a.code != http.StatusOK {
		t.Fatalf("GET /metrics as the operator: got %d %q, want 200", a.code, a.body)
	}
	return a.body
}

// seriesSum adds up the samples whose line starts with prefix, e.g.
// `tokenfed_upstream_reviews_total{issuer="b",` for every result. 0 when
// none exists yet.
func seriesSum(t *testing.T, text, prefix string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(prefix) + `[^ ]* (\S+)$`)
	sum := 0.0
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Fatalf("metric %s: %v", prefix, err)
		}
		sum += v
	}
	return sum
}

// grew returns how much each series (a prefix, see seriesSum) of p grew
// while do ran, read by the caller of c.
func grew(t *testing.T, c *http.Client, p *tokenfedproc.Process, series []string, do func()) map[string]float64 {
	t.Helper()
	before := scrape(t, c, p)
	do()
	after := scrape(t, c, p)
	delta := map[string]float64{}
	for _, s := range series {
		delta[s] = seriesSum(t, after, s) - seriesSum(t, before, s)
	}
	return delta
}

// decisions is the caller-decision series of a policy and outcome.
func decisions(policy, outcome string) string {
	return `tokenfed_caller_decisions_total{outcome="` + outcome + `",policy="` + policy + `"}`
}

// signatureChecks counts uncached decisions of issuer: each is a local
// verification (plus an upstream review when the policy asks).
func signatureChecks(issuer string) string {
	return `tokenfed_verification_duration_seconds_count{issuer="` + issuer + `"}`
}

// upstreamCalls counts upstream TokenReviews to issuer's cluster, any result.
func upstreamCalls(issuer string) string {
	return `tokenfed_upstream_reviews_total{issuer="` + issuer + `",`
}

// pollUntil calls try every pollEvery until it reports done or within
// passes; it returns how long that took, and whether it happened.
func pollUntil(within time.Duration, try func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if try() {
			return time.Since(start), true
		}
		if time.Since(start) > within {
			return time.Since(start), false
		}
		time.Sleep(pollEvery)
	}
}

const pollEvery = 100 * time.Millisecond
