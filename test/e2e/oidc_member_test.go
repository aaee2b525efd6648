package e2e

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/federation"
)

const (
	corpAuthenticated = `tokenfed_authentications_total{issuer="corp",outcome="authenticated"}`
	corpRejected      = `tokenfed_authentications_total{issuer="corp",outcome="rejected"}`
	// jwtReadyTimeout bounds the wait for kube-apiserver's JWT authenticator,
	// which fetches discovery and keys after the apiserver is ready.
	jwtReadyTimeout = 30 * time.Second
)

// TestOIDCLoginThroughMember: a user of an OIDC provider logs in to a
// member through tokenfed as kube-apiserver's own JWT authenticator would
// let them log in to it. The member reviews with its API audiences
// ([member]); the ID token's aud is the client id (tokenfed). The issuer's
// reviewAudiences [member] are what let one stand in for the other, as a
// kube-apiserver's --api-audiences do for its JWT authenticators.
//
// The hub is started with --authentication-config holding the same JWT
// authenticator, so it is the reference: kube-apiserver itself.
func TestOIDCLoginThroughMember(t *testing.T) {
	idp := startOIDCProvider(t)
	hub := controlplane.StartT(t, controlplane.Options{
		Name: "hub", Dir: filepath.Join(t.TempDir(), "hub"),
		ExtraArgs: []string{"--authentication-config=" + idp.authenticationConfigFile(t)},
	})
	f := startFederationOnHub(t, hub, federation.Options{MutateConfig: func(cfg *v1alpha1.Configuration, _ *controlplane.ControlPlane) {
		cfg.Issuers = append(cfg.Issuers, idp.tokenfedIssuer("corp", []string{federation.MemberAudience}))
	}})
	alice := idp.idToken(t, oidcClientID, "alice", "devs")
	notForUs := idp.idToken(t, "someone-else", "alice", "devs")

	t.Run("kube-apiserver's own JWT authenticator accepts the ID token", func(t *testing.T) {
		user := waitLogin(t, hub, alice, "alice")
		wantGroups(t, user, []string{"devs", "system:authenticated"}, "hub")
	})
	t.Run("the member logs the same user in, prefixed", func(t *testing.T) {
		var user authv1.UserInfo
		delta := counting(t, f.Tokenfed, []string{corpAuthenticated}, func() {
			user = wantLogin(t, f.Member, alice, "corp:alice", "ID token on the member")
		})
		wantDelta(t, delta, corpAuthenticated, 1, "ID token on the member")
		wantGroups(t, user, []string{"corp:devs", "system:authenticated"}, "member")
		if got := user.Extra["tokenfed.io/issuer"]; !slices.Equal(got, authv1.ExtraValue{"corp"}) {
			t.Fatalf("member: got extra tokenfed.io/issuer %q, want [corp]", got)
		}
	})
	t.Run("an ID token for another client is refused, as by kube-apiserver", func(t *testing.T) {
		delta := counting(t, f.Tokenfed, []string{corpRejected}, func() {
			wantUnauthorized(t, f.Member, notForUs, "aud someone-else on the member")
		})
		wantDelta(t, delta, corpRejected, 1, "aud someone-else on the member")
		wantUnauthorized(t, hub, notForUs, "aud someone-else on the reference kube-apiserver")
	})
	t.Run("reviewAudiences stand in for the listed audiences only", func(t *testing.T) {
		tf := tokenfedClient(t, f.Tokenfed)
		st := reviewFor(t, tf, alice, federation.MemberAudience)
		if !st.Authenticated || st.User.Username != "corp:alice" || !slices.Equal(st.Audiences, []string{federation.MemberAudience}) {
			t.Fatalf("review for [member]: got authenticated=%v user=%q audiences=%q error=%q, want corp:alice for [member]",
				st.Authenticated, st.User.Username, st.Audiences, st.Error)
		}
		if st := reviewFor(t, tf, alice, "https://unrelated.example"); st.Authenticated {
			t.Fatalf("review for [https://unrelated.example]: got authenticated as %q for %q, want refused", st.User.Username, st.Audiences)
		}
	})
	// Last: it points the member at another tokenfed.
	t.Run("without reviewAudiences the member refuses the same token", func(t *testing.T) {
		p := startUpstreamTokenfed(t, "no-review-audiences", v1alpha1.Configuration{Issuers: []v1alpha1.Issuer{
			federation.HubIssuer("hub", hub), idp.tokenfedIssuer("corp", nil),
		}})
		// The token itself is good there: asked about the client id, this
		// tokenfed accepts it.
		if st := reviewFor(t, tokenfedClient(t, p), alice, oidcClientID); !st.Authenticated || st.User.Username != "corp:alice" {
			t.Fatalf("review for [%s] without reviewAudiences: got authenticated=%v user=%q error=%q, want corp:alice",
				oidcClientID, st.Authenticated, st.User.Username, st.Error)
		}
		if err := f.Member.Restart(ctx(t), func(o *controlplane.Options) { o.Webhook = webhookTo(p) }); err != nil {
			t.Fatalf("pointing the member at the second tokenfed: %v", err)
		}
		delta := counting(t, p, []string{corpRejected}, func() {
			wantUnauthorized(t, f.Member, alice, "ID token on the member, no reviewAudiences")
		})
		wantDelta(t, delta, corpRejected, 1, "ID token on the member, no reviewAudiences")
	})
}

// waitLogin is wantLogin, retried while cp's JWT authenticator is still
// initialising: kube-apiserver reports ready before it has fetched the
// provider's keys.
func waitLogin(t *testing.T, cp *controlplane.ControlPlane, token, username string) authv1.UserInfo {
	t.Helper()
	var (
		user   authv1.UserInfo
		stderr string
		err    error
	)
	poll := wait.PollUntilContextTimeout(ctx(t), 200*time.Millisecond, jwtReadyTimeout, true, func(context.Context) (bool, error) {
		user, stderr, err = whoami(t, cp, token)
		return err == nil, nil
	})
	if poll != nil || user.Username != username {
		t.Fatalf("whoami on %s for %s: got user %q, err %v, stderr %q; want %q", cp.Name, jwtReadyTimeout, user.Username, err, stderr, username)
	}
	return user
}

func wantGroups(t *testing.T, user authv1.UserInfo, want []string, what string) {
	t.Helper()
	got := slices.Sorted(slices.Values(user.Groups))
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got groups %q, want %q", what, got, want)
	}
}

// reviewFor asks tokenfed directly, as an application would, whether token
// is valid for audience.
func reviewFor(t *testing.T, c kubernetes.Interface, token, audience string) authv1.TokenReviewStatus {
	t.Helper()
	tr := &authv1.TokenReview{Spec: authv1.TokenReviewSpec{Token: token, Audiences: []string{audience}}}
	out, err := c.AuthenticationV1().TokenReviews().Create(ctx(t), tr, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("review for [%s]: %v", audience, err)
	}
	return out.Status
}
