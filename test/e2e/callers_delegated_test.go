package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/federation"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

const (
	// delegatedTTL is both decision caches of the delegating authorizer.
	delegatedTTL = 2 * time.Second
	// delegatedSlack covers the RBAC informer of the hub catching up with
	// a change, and one access review, on a busy machine.
	delegatedSlack = 8 * time.Second
	delegatedNS    = "delegated"
	// reviewerCN authenticates with a certificate; delegatedAppUser with its
	// own token, so RBAC names it with its issuer's prefix.
	reviewerCN       = "reviewer"
	delegatedAppUser = "hub:system:serviceaccount:" + delegatedNS + ":app"
	scraperCN        = "scraper"
)

// The grants, as docs/callers.md shows them.
const (
	reviewHubRole = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: tokenfed:review:hub
rules:
- apiGroups: ["tokenfed.io"]
  resources: ["issuers"]
  resourceNames: ["hub"]
  verbs: ["review"]
`
	reviewHubBinding = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: tokenfed:review:hub
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: tokenfed:review:hub
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: reviewer
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: hub:system:serviceaccount:delegated:app
`
	// A Role and RoleBinding with the same rule, in a namespace: they grant
	// nothing, since tokenfed's access review has no namespace.
	namespacedReviewHub = `
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: tokenfed-review-hub
  namespace: delegated
rules:
- apiGroups: ["tokenfed.io"]
  resources: ["issuers"]
  resourceNames: ["hub"]
  verbs: ["review"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: tokenfed-review-hub
  namespace: delegated
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: tokenfed-review-hub
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: reviewer
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: hub:system:serviceaccount:delegated:app
`
	metricsReader = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: tokenfed:metrics-reader
rules:
- nonResourceURLs: ["/metrics"]
  verbs: ["get"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: tokenfed:metrics-reader
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: tokenfed:metrics-reader
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: scraper
`
)

// delegatedCaller reviews the subject token as one caller.
type delegatedCaller struct {
	name   string
	review func(t *testing.T) (answer, *authv1.TokenReviewStatus)
}

// testDelegated: tokenfed asks the hub, with SubjectAccessReviews as its
// admin, whether a caller may review hub tokens and read /metrics.
func testDelegated(t *testing.T, hub *controlplane.ControlPlane) {
	ttl := metav1.Duration{Duration: delegatedTTL}
	p := startCallersTokenfed(t, "delegated", v1alpha1.Configuration{
		Issuers: []v1alpha1.Issuer{federation.HubIssuer("hub", hub)},
		Callers: v1alpha1.Callers{
			Tokens: &v1alpha1.CallerTokens{Audiences: []string{callerAudience}, Issuers: []string{"hub"}},
			Authorization: v1alpha1.CallerAuthorization{
				Mode:      v1alpha1.CallerAuthorizationDelegated,
				Delegated: &v1alpha1.DelegatedAuthorization{Kubeconfig: hub.Kubeconfig, AllowCacheTTL: ttl, DenyCacheTTL: ttl},
			},
		},
	})
	serviceAccounts(t, hub, delegatedNS, "app", "client")
	subject, err := hub.CreateToken(ctx(t), delegatedNS, "client", controlplane.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reviewer, appToken := certClient(t, p, reviewerCN), createTokenWithKubectl(t, hub, delegatedNS, "app", callerAudience)
	callers := []delegatedCaller{
		{name: "certificate " + reviewerCN, review: func(t *testing.T) (answer, *authv1.TokenReviewStatus) {
			return review(t, reviewer, p, "", subject)
		}},
		{name: "token of " + delegatedAppUser, review: func(t *testing.T) (answer, *authv1.TokenReviewStatus) {
			return review(t, bareClient(p), p, appToken, subject)
		}},
	}
	const subjectUser = "hub:system:serviceaccount:" + delegatedNS + ":client"

	t.Run("a namespaced Role grants nothing", func(t *testing.T) {
		kubectlApply(t, hub, namespacedReviewHub)
		waitNamespacedGrant(t, hub, reviewerCN)
		for _, c := range callers {
			a, st := c.review(t)
			wantIssuerRefusal(t, a, st, c.name+" with a namespaced RoleBinding")
		}
	})
	t.Run("a ClusterRoleBinding grants the issuer within the deny TTL", func(t *testing.T) {
		kubectlApply(t, hub, reviewHubRole+"---"+reviewHubBinding)
		for _, c := range callers {
			took, ok := pollUntil(delegatedTTL+delegatedSlack, func() bool {
				_, st := c.review(t)
				return st != nil && st.Authenticated
			})
			a, st := c.review(t)
			if !ok {
				t.Fatalf("%s, %s after the grant: got HTTP %d %s, want authenticated as %s", c.name, took, a.code, a.body, subjectUser)
			}
			wantReviewUser(t, a, st, subjectUser, c.name+" after the grant")
			t.Logf("%s: admitted %s after the grant", c.name, took.Round(time.Millisecond))
		}
	})
	t.Run("deleting the ClusterRoleBinding refuses it again within the allow TTL", func(t *testing.T) {
		kubectlAdmin(t, "--kubeconfig", hub.Kubeconfig, "delete", "clusterrolebinding", "tokenfed:review:hub")
		for _, c := range callers {
			took, ok := pollUntil(delegatedTTL+delegatedSlack, func() bool {
				_, st := c.review(t)
				return st != nil && !st.Authenticated
			})
			a, st := c.review(t)
			if !ok {
				t.Fatalf("%s, %s after the binding went: got HTTP %d %s, want refused", c.name, took, a.code, a.body)
			}
			wantIssuerRefusal(t, a, st, c.name+" after the binding went")
			t.Logf("%s: refused %s after the binding went", c.name, took.Round(time.Millisecond))
		}
	})
	t.Run("metrics need a nonResourceURLs grant", func(t *testing.T) { testDelegatedMetrics(t, hub, p) })
}

func testDelegatedMetrics(t *testing.T, hub *controlplane.ControlPlane, p *tokenfedproc.Process) {
	scraper := certClient(t, p, scraperCN)
	if a := do(t, scraper, p, "", http.MethodGet, "/metrics", nil); a.code != http.StatusForbidden {
		t.Fatalf("before the grant: got HTTP %d %q, want 403", a.code, short(a.body))
	}
	kubectlApply(t, hub, metricsReader)
	var a answer
	took, ok := pollUntil(delegatedTTL+delegatedSlack, func() bool {
		a = do(t, scraper, p, "", http.MethodGet, "/metrics", nil)
		return a.code == http.StatusOK
	})
	if !ok {
		t.Fatalf("%s after the grant: got HTTP %d %q, want 200", took, a.code, short(a.body))
	}
	t.Logf("/metrics served %s after the grant", took.Round(time.Millisecond))
	for _, outcome := range []string{"allowed", "issuer_denied"} {
		if got := seriesSum(t, a.body, decisions("delegated", outcome)); got < 1 {
			t.Fatalf("%s: got %v, want at least 1", decisions("delegated", outcome), got)
		}
	}
}

// kubectlApply applies manifests to cp as its admin.
func kubectlApply(t *testing.T, cp *controlplane.ControlPlane, manifests string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "manifests.yaml")
	if err := os.WriteFile(path, []byte(strings.TrimSpace(manifests)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kubectlAdmin(t, "--kubeconfig", cp.Kubeconfig, "apply", "-f", path)
}

// waitNamespacedGrant waits until the hub's RBAC allows user to review hub
// tokens in the delegated namespace, so that a refusal afterwards is not
// the RBAC informer lagging behind the RoleBinding.
func waitNamespacedGrant(t *testing.T, cp *controlplane.ControlPlane, user string) {
	t.Helper()
	sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User: user,
		ResourceAttributes: &authzv1.ResourceAttributes{
			Namespace: delegatedNS, Group: "tokenfed.io", Resource: "issuers", Name: "hub", Verb: "review",
		},
	}}
	var last string
	err := wait.PollUntilContextTimeout(ctx(t), pollEvery, delegatedSlack, true, func(ctx context.Context) (bool, error) {
		out, err := cp.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err != nil {
			return false, err
		}
		last = out.Status.Reason
		return out.Status.Allowed, nil
	})
	if err != nil {
		t.Fatalf("access review of %s in namespace %s: got not allowed (%q, %v), want allowed", user, delegatedNS, last, err)
	}
}
