package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/federation"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// hubTokenCacheTTL is kube-apiserver's own success cache for bearer
// tokens (TokenSuccessCacheTTL, 10s, no flag). It wraps every token
// authenticator, so TokenReview answers too: after a revocation the issuing
// cluster itself keeps saying "authenticated" for up to this long to a
// caller that asked just before. tokenfed can only add to it.
const hubTokenCacheTTL = 10 * time.Second

// startUpstreamHub starts a bare hub control plane (no member: these tests
// talk to tokenfed directly) whose issuer tokenfed may discover.
func startUpstreamHub(t *testing.T) *controlplane.ControlPlane {
	t.Helper()
	hub := controlplane.StartT(t, controlplane.Options{Name: "hub", Dir: filepath.Join(t.TempDir(), "hub")})
	if err := hub.AllowAnonymousIssuerDiscovery(ctx(t)); err != nil {
		t.Fatal(err)
	}
	return hub
}

// podBoundTokens creates namespace ns with a pod, and returns n distinct
// tokens bound to that pod: each is a cache miss of its own in tokenfed,
// and under whenBound each needs the hub.
func podBoundTokens(t *testing.T, hub *controlplane.ControlPlane, ns string, n int) []string {
	t.Helper()
	if _, err := hub.CreateNamespace(ctx(t), ns); err != nil {
		t.Fatal(err)
	}
	pod, err := hub.CreatePod(ctx(t), ns, "p", "")
	if err != nil {
		t.Fatal(err)
	}
	var tokens []string
	for range n {
		token, err := hub.CreateToken(ctx(t), ns, "default", controlplane.TokenOptions{BoundPod: &controlplane.BoundObject{Name: pod.Name, UID: pod.UID}})
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, token)
	}
	return tokens
}

// hubWithUpstream is the hub issuer entry with an upstream policy, reached
// through kubeconfig (the hub's admin one, or a counting proxy's).
func hubWithUpstream(hub *controlplane.ControlPlane, policy v1alpha1.UpstreamPolicy, kubeconfig string) v1alpha1.Issuer {
	is := federation.HubIssuer("hub", hub)
	is.Upstream = &v1alpha1.Upstream{Kubeconfig: kubeconfig, Policy: policy}
	return is
}

// startUpstreamTokenfed runs one tokenfed process with cfg. Several may
// share a hub: that is cheaper than a federation per configuration.
func startUpstreamTokenfed(t *testing.T, name string, cfg v1alpha1.Configuration) *tokenfedproc.Process {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tokenfed-"+name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	p, err := tokenfedproc.Start(ctx(t), tokenfedproc.Options{Dir: dir, Config: cfg})
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

// tokenfedClient talks to tokenfed as to an apiserver, without client-go's
// client-side rate limit (5 QPS), which would serialise concurrent reviews.
func tokenfedClient(t *testing.T, p *tokenfedproc.Process) kubernetes.Interface {
	t.Helper()
	cfg := p.RESTConfig()
	cfg.QPS = -1
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// reviewOnce posts one v1 TokenReview without client-go's retries: the
// typed Create retries a 503 carrying Retry-After up to ten times, one
// second apart, which would hide both the 503 and its latency.
func reviewOnce(ctx context.Context, c kubernetes.Interface, token string) (*authv1.TokenReviewStatus, error) {
	in := &authv1.TokenReview{Spec: authv1.TokenReviewSpec{Token: token}}
	var out authv1.TokenReview
	err := c.AuthenticationV1().RESTClient().Post().Resource("tokenreviews").MaxRetries(0).Body(in).Do(ctx).Into(&out)
	if err != nil {
		return nil, err
	}
	return &out.Status, nil
}

// mustReview fails the test unless tokenfed answers with a status.
func mustReview(t *testing.T, c kubernetes.Interface, token, what string) *authv1.TokenReviewStatus {
	t.Helper()
	st, err := reviewOnce(ctx(t), c, token)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return st
}

// wantUser fails unless st authenticates username.
func wantUser(t *testing.T, st *authv1.TokenReviewStatus, username, what string) {
	t.Helper()
	if !st.Authenticated || st.User.Username != username {
		t.Fatalf("%s: got authenticated=%v user=%q error=%q, want authenticated as %q", what, st.Authenticated, st.User.Username, st.Error, username)
	}
}

// hubReview asks the hub itself, with the audiences tokenfed sends
// upstream for a review that names none, so that it sees exactly what
// tokenfed's upstream call sees, the hub's own result cache included.
func hubReview(t *testing.T, hub *controlplane.ControlPlane, token string) *authv1.TokenReviewStatus {
	t.Helper()
	st, err := hub.TokenReview(ctx(t), token, []string{hub.IssuerURL, authn.LoopGuardAudience})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// metricValue is the value of one series of tokenfed's /metrics, e.g.
// `tokenfed_cache_coalesced_total` or
// `tokenfed_upstream_reviews_total{issuer="hub",result="error"}`; 0 when
// the series does not exist yet.
func metricValue(t *testing.T, p *tokenfedproc.Process, series string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(metric(t, p, series))
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("metric %s: %v", series, err)
	}
	return v
}
