package e2e

import (
	"fmt"
	"slices"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/federation"
	"github.com/tokenfed/tokenfed/pkg/testing/jwstest"
)

const (
	audNamespace, audServiceAccount = "aud", "app"
	audHubUser                      = "hub:system:serviceaccount:" + audNamespace + ":" + audServiceAccount
)

// audienceCase is a hub token minted for audience and presented to the
// member, which reviews it for its API audiences ([member]).
type audienceCase struct {
	name     string
	audience string
	// accepted: the member logs it in as audHubUser; else 401.
	accepted bool
	// hubAuthenticates is the hub's own answer to the review tokenfed
	// forwards (the member's audiences plus the loop guard).
	hubAuthenticates bool
}

var audienceCases = []audienceCase{
	{name: "member audience", audience: federation.MemberAudience, accepted: true, hubAuthenticates: true},
	// The hub accepts it for the loop guard, the one audience tokenfed adds;
	// tokenfed must not turn that into "valid for the member".
	{name: "loop-guard audience", audience: authn.LoopGuardAudience, accepted: false, hubAuthenticates: true},
	{name: "unrelated audience", audience: "https://unrelated.example", accepted: false, hubAuthenticates: false},
}

// TestMemberAudiences: a hub token logs in to the member only when it was
// minted for the member's audience, whether tokenfed verifies it locally
// or asks the hub. The upstream setup is the exact input of the issue:
// tokenfed's static keys do not hold the hub's key, so every hub token
// goes to the hub's TokenReview (onFailure), which answers a token minted
// for the loop guard with authenticated, audiences [tokenfed.io/loop-guard].
func TestMemberAudiences(t *testing.T) {
	hub := startUpstreamHub(t)
	if _, err := hub.CreateNamespace(ctx(t), audNamespace); err != nil {
		t.Fatal(err)
	}
	if _, err := hub.CreateServiceAccount(ctx(t), audNamespace, audServiceAccount); err != nil {
		t.Fatal(err)
	}
	t.Run("verified locally", func(t *testing.T) {
		f := startFederationOnHub(t, hub, federation.Options{})
		for _, c := range audienceCases {
			t.Run(c.name, func(t *testing.T) { runAudienceCase(t, f, c, false) })
		}
	})
	t.Run("unknown kid, confirmed by the hub", func(t *testing.T) {
		f := startFederationOnHub(t, hub, federation.Options{MutateConfig: foreignKeysOnFailure()})
		for _, c := range audienceCases {
			t.Run(c.name, func(t *testing.T) { runAudienceCase(t, f, c, true) })
		}
	})
}

func runAudienceCase(t *testing.T, f *federation.Federation, c audienceCase, viaUpstream bool) {
	token, err := f.Hub.CreateToken(ctx(t), audNamespace, audServiceAccount, controlplane.TokenOptions{Audiences: []string{c.audience}})
	if err != nil {
		t.Fatal(err)
	}
	if viaUpstream {
		wantHubAnswer(t, f.Hub, token, c)
	}
	outcome, upstreamResult := "rejected", "unauthenticated"
	if c.accepted {
		outcome = "authenticated"
	}
	if c.hubAuthenticates {
		upstreamResult = "authenticated"
	}
	decided := fmt.Sprintf(`tokenfed_authentications_total{issuer="hub",outcome=%q}`, outcome)
	asked := fmt.Sprintf(`tokenfed_upstream_reviews_total{issuer="hub",result=%q}`, upstreamResult)
	delta := counting(t, f.Tokenfed, []string{decided, asked}, func() {
		if c.accepted {
			wantLogin(t, f.Member, token, audHubUser, "token for "+c.audience)
		} else {
			wantUnauthorized(t, f.Member, token, "token for "+c.audience)
		}
	})
	wantDelta(t, delta, decided, 1, "token for "+c.audience)
	if !viaUpstream {
		if got := metric(t, f.Tokenfed, "tokenfed_upstream_reviews_total{"); got != "" {
			t.Fatalf("local setup: got upstream reviews %q, want none", got)
		}
		return
	}
	wantDelta(t, delta, asked, 1, "token for "+c.audience)
}

// wantHubAnswer checks the input the member's review becomes upstream:
// the hub's own review of token for what tokenfed asks it, the member's
// audiences plus the loop guard.
func wantHubAnswer(t *testing.T, hub *controlplane.ControlPlane, token string, c audienceCase) {
	t.Helper()
	st, err := hub.TokenReview(ctx(t), token, []string{federation.MemberAudience, authn.LoopGuardAudience})
	if err != nil {
		t.Fatal(err)
	}
	if st.Authenticated != c.hubAuthenticates {
		t.Fatalf("hub's review of a token for %s: got authenticated=%v (%s), want %v", c.audience, st.Authenticated, st.Error, c.hubAuthenticates)
	}
	if st.Authenticated && !slices.Equal(st.Audiences, []string{c.audience}) {
		t.Fatalf("hub's review of a token for %s: got audiences %q, want [%s]", c.audience, st.Audiences, c.audience)
	}
}

// foreignKeysOnFailure configures the hub issuer with static keys that do
// not include the hub's signing key and upstream policy onFailure: every
// hub token has an unknown kid, and only the hub's TokenReview decides.
func foreignKeysOnFailure() func(*v1alpha1.Configuration, *controlplane.ControlPlane) {
	jwks := jwstest.JWKS(jwstest.PublicJWK(jwstest.RSAKey(1), "not-the-hub", jose.RS256))
	return func(cfg *v1alpha1.Configuration, hub *controlplane.ControlPlane) {
		is := hubWithUpstream(hub, v1alpha1.UpstreamOnFailure, hub.Kubeconfig)
		is.StaticKeys = &v1alpha1.StaticKeys{JWKS: jwks}
		cfg.Issuers = []v1alpha1.Issuer{is}
	}
}
