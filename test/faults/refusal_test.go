package faults

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn/upstream"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/federation"
	"github.com/tokenfed/tokenfed/pkg/testing/secretscan"
)

// bogusCredential is a bearer token the hub does not accept. It is
// tokenfed's credential in one test, which tokenfed must not log either.
const bogusCredential = "not-a-credential-of-the-hub-5f1d2c"

func init() { secretscan.Register(bogusCredential, "faults bogus upstream credential") }

// Figures of the refused credential.
const (
	// identicalReviews in a row may cost at most maxRefusedCalls upstream
	// calls (issue 15): without the hold, one per review.
	identicalReviews = 8
	maxRefusedCalls  = 2
	// grantSeenWithin: once the credential is granted `create
	// tokenreviews`, tokens are authenticated again within the hold, plus
	// the time kube-apiserver's RBAC takes to see the binding.
	grantSeenWithin = upstream.CredentialHold + 3*time.Second
)

// reviewCounter is a TLS reverse proxy in front of a real kube-apiserver
// that counts the TokenReviews tokenfed sends and what the cluster
// answered. It passes tokenfed's own credential on, so the cluster's
// answer is the cluster's decision about that credential.
type reviewCounter struct {
	srv *httptest.Server
	mu  sync.Mutex
	// codes are the HTTP statuses of the cluster's answers, in order.
	codes []int
}

func newReviewCounter(t *testing.T, hub *controlplane.ControlPlane) *reviewCounter {
	t.Helper()
	caPEM, err := os.ReadFile(hub.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	target, err := url.Parse(hub.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := &reviewCounter{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.URL.Path == reviewPath {
			c.mu.Lock()
			c.codes = append(c.codes, resp.StatusCode)
			c.mu.Unlock()
		}
		return nil
	}
	c.srv = httptest.NewTLSServer(proxy)
	t.Cleanup(c.srv.Close)
	return c
}

func (c *reviewCounter) answers() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.codes...)
}

// kubeconfig reaches the cluster through c with credential.
func (c *reviewCounter) kubeconfig(t *testing.T, credential string) string {
	t.Helper()
	return writeKubeconfig(t, c.srv.URL, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.srv.Certificate().Raw}), credential)
}

// TestRefusedCredential: a real kube-apiserver refuses tokenfed's
// credential: with 403 for a ServiceAccount without `create tokenreviews`
// (its RBAC was never applied), with 401 for a token it does not accept.
// Figures: identicalReviews reviews in a row cost at most maxRefusedCalls
// TokenReviews (1: the refusal is remembered for upstream.CredentialHold);
// every answer is 200, authenticated: false, with status.error saying the
// cluster refuses tokenfed's credential, which a calling kube-apiserver
// does not retry; those answered from memory take at most noCallLatency.
// Once the 403's ServiceAccount is granted the permission, tokens are
// authenticated again within grantSeenWithin.
func TestRefusedCredential(t *testing.T) {
	hub := sharedHub(t)
	ctx := t.Context()
	if _, err := hub.CreateNamespace(ctx, "faults-refused"); err != nil {
		t.Fatal(err)
	}
	if _, err := hub.CreateServiceAccount(ctx, "faults-refused", "tokenfed-norbac"); err != nil {
		t.Fatal(err)
	}
	noRBAC, err := hub.CreateToken(ctx, "faults-refused", "tokenfed-norbac", controlplane.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reviewed, err := hub.CreateToken(ctx, "faults-refused", "default", controlplane.TokenOptions{Audiences: []string{hub.IssuerURL}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, credential string
		code             int
		grant            bool
	}{
		{name: "403 without create tokenreviews", credential: noRBAC, code: http.StatusForbidden, grant: true},
		{name: "401 for a credential it does not accept", credential: bogusCredential, code: http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			counter := newReviewCounter(t, hub)
			is := federation.HubIssuer("hub", hub)
			is.Upstream = &v1alpha1.Upstream{Kubeconfig: counter.kubeconfig(t, tc.credential), Policy: v1alpha1.UpstreamAlways, Timeout: duration(upstreamTimeout)}
			tf := startTokenfed(t, v1alpha1.Configuration{Issuers: []v1alpha1.Issuer{is}})
			want := "issuer's cluster refuses tokenfed's credential: HTTP " + strconv.Itoa(tc.code) + " " + http.StatusText(tc.code)

			var slowest time.Duration
			for i := range identicalReviews {
				r := tf.mustReview(t, reviewed)
				bound := noCallLatency
				if i == 0 {
					bound = failedCallLatency
				} else {
					slowest = max(slowest, r.latency)
				}
				refused(t, r, want, bound)
			}
			codes := counter.answers()
			if len(codes) > maxRefusedCalls || len(codes) == 0 || codes[0] != tc.code {
				t.Fatalf("got the cluster's answers %v for %d identical reviews, want 1 to %d, each %d", codes, identicalReviews, maxRefusedCalls, tc.code)
			}
			if got := tf.metric(t, `tokenfed_upstream_breaker_state{issuer="hub"}`); got != 0 {
				t.Fatalf("got breaker state %v, want 0 (closed): a refused credential is not an outage", got)
			}
			tf.noServerFaults(t)
			t.Logf("%d: %d identical reviews cost %d TokenReview(s) (bound %d); answered from memory within %s (bound %s)",
				tc.code, identicalReviews, len(codes), maxRefusedCalls, slowest.Round(time.Millisecond), noCallLatency)
			if tc.grant {
				granted(t, hub, tf, reviewed)
			}
		})
	}
}

// granted gives tokenfed-norbac `create tokenreviews` (the ClusterRole
// kube-apiserver bootstraps for it, system:auth-delegator, grants it) and
// waits for the token to be authenticated again.
func granted(t *testing.T, hub *controlplane.ControlPlane, tf *tokenfed, token string) {
	t.Helper()
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "faults-tokenfed-norbac"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:auth-delegator"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "faults-refused", Name: "tokenfed-norbac"}},
	}
	if _, err := hub.Client.RbacV1().ClusterRoleBindings().Create(t.Context(), binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, grantSeenWithin, "the token authenticated once the credential is granted", func() (bool, string) {
		r := tf.mustReview(t, token)
		return r.status.Authenticated, r.String()
	})
	t.Logf("authenticated again %s after the grant (bound %s)", took.Round(time.Millisecond), grantSeenWithin)
}
