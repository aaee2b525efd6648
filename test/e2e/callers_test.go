package e2e

import (
	"net/http"
	"strings"
	"testing"

	authv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/federation"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

const (
	// memberCN is the CN of devcerts' client certificate, the one the
	// federation's member presents to tokenfed.
	memberCN = "kube-apiserver"
	// operatorCN reads /metrics and readiness details; strangerCN is a
	// certificate of the right CA that no policy names.
	operatorCN = "operator"
	strangerCN = "stranger"
	// callerAudience is tokenfed's own audience: caller tokens are minted
	// for it.
	callerAudience = "tokenfed"
	// appsNamespace holds the applications, in the hub and in the member.
	appsNamespace = "apps"
	appUser       = "hub:system:serviceaccount:" + appsNamespace + ":app"
	busyUser      = "hub:system:serviceaccount:" + appsNamespace + ":busy"
)

// TestCallers: who may ask tokenfed, on real kube-apiservers. One hub and
// one member serve every subtest; each configuration is one more tokenfed
// process, which starts in about a second.
func TestCallers(t *testing.T) {
	hub := startUpstreamHub(t)
	f := startFederationOnHub(t, hub, federation.Options{MutateConfig: memberPolicies})
	t.Run("member with a certificate", func(t *testing.T) { testMemberCertificate(t, f) })

	// The member is issuer B from here on; its webhook no longer matters.
	e := startApps(t, hub, f.Member)
	t.Run("app with its own token", func(t *testing.T) { testAppToken(t, e) })
	t.Run("rate limits", func(t *testing.T) { testRateLimits(t, e) })
	t.Run("privileged endpoints", func(t *testing.T) { testPrivilegedEndpoints(t, e) })
	t.Run("delegated", func(t *testing.T) { testDelegated(t, hub) })
}

// memberPolicies grants the member (its certificate's CN) the hub, and the
// operator /metrics.
func memberPolicies(cfg *v1alpha1.Configuration, _ *controlplane.ControlPlane) {
	cfg.Callers.Authorization.Static = []v1alpha1.CallerPolicy{
		{Name: "members", Users: []string{memberCN}, Issuers: []string{"hub"}},
		{Name: "operators", Users: []string{operatorCN}, Endpoints: []string{"/metrics"}},
	}
}

func testMemberCertificate(t *testing.T, f *federation.Federation) {
	operator := certClient(t, f.Tokenfed, operatorCN)
	hubToken := hubTokenForMember(t, f, "team-a", "app")

	t.Run("with its certificate it federates hub identities", func(t *testing.T) {
		allowed := decisions("members", "allowed")
		delta := grew(t, operator, f.Tokenfed, []string{allowed}, func() {
			wantLogin(t, f.Member, hubToken, "hub:system:serviceaccount:team-a:app", "member with its certificate")
		})
		if delta[allowed] < 1 {
			t.Fatalf("%s grew by %v, want at least 1", allowed, delta[allowed])
		}
	})
	t.Run("without a certificate it is refused", func(t *testing.T) {
		err := f.Member.Restart(ctx(t), func(o *controlplane.Options) {
			o.Webhook.ClientCertFile, o.Webhook.ClientKeyFile = "", ""
		})
		if err != nil {
			t.Fatal(err)
		}
		wantNoWebhookCert(t, f.Member)
		unauthenticated := decisions("none", "unauthenticated")
		delta := grew(t, operator, f.Tokenfed, []string{unauthenticated}, func() {
			wantUnauthorized(t, f.Member, hubToken, "member without a certificate")
		})
		if delta[unauthenticated] < 1 {
			t.Fatalf("%s grew by %v, want at least 1: tokenfed must have refused the member", unauthenticated, delta[unauthenticated])
		}
	})
}

// wantNoWebhookCert fails unless the webhook kubeconfig cp runs with has
// no client certificate, so that the refusal is tokenfed's answer to a
// caller without one.
func wantNoWebhookCert(t *testing.T, cp *controlplane.ControlPlane) {
	t.Helper()
	const flag = "--authentication-token-webhook-config-file="
	for _, arg := range cp.Args() {
		path, ok := strings.CutPrefix(arg, flag)
		if !ok {
			continue
		}
		cfg, err := clientcmd.LoadFromFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for name, user := range cfg.AuthInfos {
			if len(user.ClientCertificateData) > 0 || user.ClientCertificate != "" {
				t.Fatalf("webhook kubeconfig user %s: got a client certificate, want none", name)
			}
		}
		return
	}
	t.Fatalf("kube-apiserver args %q: got no %s, want one", cp.Args(), flag)
}

// appsEnv is tokenfed with two issuers: A, the hub, where the
// applications run and whose tokens are caller credentials; B, the
// member's own service-account issuer, confirmed upstream on every review
// so that a review of a B token costs a signature check and a call.
type appsEnv struct {
	hub, member *controlplane.ControlPlane
	p           *tokenfedproc.Process
	operator    *http.Client
	// appToken and busyToken are caller credentials, minted for tokenfed.
	appToken, busyToken string
	// aToken and bToken are tokens to review, of issuers A and B.
	aToken, bToken string
}

const (
	issuerA = "hub"
	issuerB = "member"
)

func startApps(t *testing.T, hub, member *controlplane.ControlPlane) *appsEnv {
	t.Helper()
	if err := member.AllowAnonymousIssuerDiscovery(ctx(t)); err != nil {
		t.Fatal(err)
	}
	b := federation.HubIssuer(issuerB, member)
	b.Upstream = &v1alpha1.Upstream{Kubeconfig: member.Kubeconfig, Policy: v1alpha1.UpstreamAlways}
	e := &appsEnv{hub: hub, member: member}
	e.p = startCallersTokenfed(t, "apps", v1alpha1.Configuration{
		Issuers: []v1alpha1.Issuer{federation.HubIssuer(issuerA, hub), b},
		Callers: v1alpha1.Callers{
			Tokens:        &v1alpha1.CallerTokens{Audiences: []string{callerAudience}, Issuers: []string{issuerA}},
			Authorization: v1alpha1.CallerAuthorization{Static: appPolicies()},
		},
	}, "--profiling")
	e.operator = certClient(t, e.p, operatorCN)

	serviceAccounts(t, hub, appsNamespace, "app", "busy", "client")
	serviceAccounts(t, member, appsNamespace, "client")
	e.appToken = createTokenWithKubectl(t, hub, appsNamespace, "app", callerAudience)
	e.busyToken = createTokenWithKubectl(t, hub, appsNamespace, "busy", callerAudience)
	var err error
	if e.aToken, err = hub.CreateToken(ctx(t), appsNamespace, "client", controlplane.TokenOptions{}); err != nil {
		t.Fatal(err)
	}
	// For B's default audience, its issuer URL (the member's own API
	// audience is "member").
	if e.bToken, err = member.CreateToken(ctx(t), appsNamespace, "client", controlplane.TokenOptions{Audiences: []string{member.IssuerURL}}); err != nil {
		t.Fatal(err)
	}
	return e
}

func appPolicies() []v1alpha1.CallerPolicy {
	return []v1alpha1.CallerPolicy{
		{Name: "apps", Users: []string{appUser}, Issuers: []string{issuerA}},
		{Name: "busy", Users: []string{busyUser}, Issuers: []string{issuerA}, RateLimit: &v1alpha1.RateLimit{QPS: 1, Burst: 3}},
		{Name: "operators", Users: []string{operatorCN}, Issuers: []string{v1alpha1.AllIssuers},
			Endpoints: []string{"/metrics", "/readyz", "/debug/pprof"}},
	}
}

func testAppToken(t *testing.T, e *appsEnv) {
	app := appClient(t, e.p, e.appToken)
	appReview := func(t *testing.T, token string) (*authv1.TokenReviewStatus, error) {
		r, err := app.AuthenticationV1().TokenReviews().Create(ctx(t), &authv1.TokenReview{Spec: authv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
		if err != nil {
			return nil, err
		}
		return &r.Status, nil
	}
	bSeries := []string{signatureChecks(issuerB), upstreamCalls(issuerB), decisions("apps", "issuer_denied")}

	t.Run("a review of an issuer-A token succeeds", func(t *testing.T) {
		st, err := appReview(t, e.aToken)
		if err != nil || !st.Authenticated || st.User.Username != "hub:system:serviceaccount:apps:client" {
			t.Fatalf("got %+v, err %v; want authenticated as hub:system:serviceaccount:apps:client", st, err)
		}
	})
	t.Run("a review of an issuer-B token is refused before any check", func(t *testing.T) {
		var st *authv1.TokenReviewStatus
		delta := grew(t, e.operator, e.p, bSeries, func() {
			var err error
			if st, err = appReview(t, e.bToken); err != nil {
				t.Fatalf("got error %v, want a 200 answer", err)
			}
		})
		if st.Authenticated || st.Error != errIssuerNotGranted || st.User.Username != "" {
			t.Fatalf("got %+v, want authenticated: false, error %q", st, errIssuerNotGranted)
		}
		t.Logf("refused B review: %v signature checks, %v upstream calls", delta[bSeries[0]], delta[bSeries[1]])
		wantDelta(t, delta, bSeries[0], 0, "refused B review")
		wantDelta(t, delta, bSeries[1], 0, "refused B review")
		wantDelta(t, delta, bSeries[2], 1, "refused B review")
	})
	t.Run("the same B token asked by a caller granted B costs a check and a call", func(t *testing.T) {
		var a answer
		var st *authv1.TokenReviewStatus
		delta := grew(t, e.operator, e.p, bSeries, func() { a, st = review(t, e.operator, e.p, "", e.bToken) })
		wantReviewUser(t, a, st, "member:system:serviceaccount:apps:client", "operator's B review")
		t.Logf("allowed B review: %v signature checks, %v upstream calls", delta[bSeries[0]], delta[bSeries[1]])
		wantDelta(t, delta, bSeries[0], 1, "allowed B review")
		wantDelta(t, delta, bSeries[1], 1, "allowed B review")
	})
	t.Run("a cached answer for the B token does not get around the grant", func(t *testing.T) {
		st, err := appReview(t, e.bToken)
		if err != nil || st.Authenticated || st.Error != errIssuerNotGranted {
			t.Fatalf("got %+v, err %v; want authenticated: false, error %q", st, err, errIssuerNotGranted)
		}
	})
	t.Run("a token of the app not minted for tokenfed is no credential", func(t *testing.T) {
		token, err := e.hub.CreateToken(ctx(t), appsNamespace, "app", controlplane.TokenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = appClient(t, e.p, token).AuthenticationV1().TokenReviews().Create(ctx(t), &authv1.TokenReview{Spec: authv1.TokenReviewSpec{Token: e.aToken}}, metav1.CreateOptions{})
		if !apierrors.IsUnauthorized(err) {
			t.Fatalf("got error %v, want 401 Unauthorized", err)
		}
	})
}
