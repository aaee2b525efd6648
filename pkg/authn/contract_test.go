package authn

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn/jwt"
	"github.com/tokenfed/tokenfed/pkg/authn/mapping"
)

const memberAudience = "https://member.example"

// answerAudiences answers authenticated as saUser for exactly auds,
// whatever was asked: a misbehaving or older upstream.
func answerAudiences(auds ...string) answerFunc {
	return func(w http.ResponseWriter, _ *authenticationv1.TokenReview) {
		writeReview(w, authenticationv1.TokenReviewStatus{Authenticated: true, User: saUser, Audiences: auds})
	}
}

// answerKubeAPIServer answers as kube-apiserver does for a token valid for
// tokenAuds: the intersection with the review's audiences, or a rejection.
func answerKubeAPIServer(tokenAuds ...string) answerFunc {
	return func(w http.ResponseWriter, review *authenticationv1.TokenReview) {
		auds := authenticator.Audiences(review.Spec.Audiences).Intersect(tokenAuds)
		if len(auds) == 0 {
			writeReview(w, authenticationv1.TokenReviewStatus{Error: "token audiences do not match"})
			return
		}
		writeReview(w, authenticationv1.TokenReviewStatus{Authenticated: true, User: saUser, Audiences: auds})
	}
}

// audienceCases: every answer, on every path, names one of the target
// audiences (the review's, else the issuer's), narrowed to those; the loop
// guard never counts and an empty answer is refused. The first case is the
// issue's input: a hub token tokenfed holds no key for, minted for the loop
// guard audience only, reviewed by a member.
var audienceCases = []struct {
	name     string
	answer   answerFunc
	token    tokenKind
	opaque   bool
	review   authenticator.Audiences
	wantAuds authenticator.Audiences
	wantErr  error
}{
	{name: "upstream confirms only the loop guard", answer: answerKubeAPIServer(LoopGuardAudience), token: unknownKeyToken,
		review: authenticator.Audiences{memberAudience}, wantErr: jwt.ErrAudience},
	{name: "upstream answers an audience nobody asked for", answer: answerAudiences("https://unrelated.example"), token: unknownKeyToken,
		review: authenticator.Audiences{memberAudience}, wantErr: jwt.ErrAudience},
	{name: "upstream answers no audiences", answer: answerAudiences(), token: unknownKeyToken,
		review: authenticator.Audiences{memberAudience}, wantErr: jwt.ErrAudience},
	{name: "upstream answers the loop guard beside the member", answer: answerAudiences(memberAudience, LoopGuardAudience), token: unknownKeyToken,
		review: authenticator.Audiences{memberAudience}, wantAuds: authenticator.Audiences{memberAudience}},
	{name: "an upstream answer is narrowed to what was asked", answer: answerAudiences("https://unrelated.example", memberAudience), token: unknownKeyToken,
		review: authenticator.Audiences{memberAudience}, wantAuds: authenticator.Audiences{memberAudience}},
	{name: "no review audiences: the issuer's apply upstream", answer: answerAudiences("https://unrelated.example"), token: unknownKeyToken,
		wantErr: jwt.ErrAudience},
	{name: "no review audiences: upstream confirms the issuer's", answer: answerAudiences(issuerURL), token: unknownKeyToken,
		wantAuds: authenticator.Audiences{issuerURL}},
	{name: "opaque path: same rule", answer: answerAudiences("https://unrelated.example"), opaque: true,
		review: authenticator.Audiences{memberAudience}, wantErr: jwt.ErrAudience},
	{name: "opaque path: confirmed", answer: answerKubeAPIServer(memberAudience), opaque: true,
		review: authenticator.Audiences{memberAudience}, wantAuds: authenticator.Audiences{memberAudience}},
	{name: "legacy token path: same rule", answer: answerAudiences(LoopGuardAudience), token: legacyToken,
		review: authenticator.Audiences{memberAudience}, wantErr: jwt.ErrAudience},
	{name: "a review that asks for the loop guard is a loop", answer: answerSA, token: plainToken,
		review: authenticator.Audiences{LoopGuardAudience}, wantErr: errLoop},
}

func TestChainAudiencesOnEveryPath(t *testing.T) {
	for _, tc := range audienceCases {
		t.Run(tc.name, func(t *testing.T) {
			up := newFakeUpstream(t, tc.answer)
			cfg := hubConfig(t, up, onFailure)
			cfg.OpaqueTokenUpstream = "hub"
			c := newChain(t, cfg)
			token := "opaque-token"
			if !tc.opaque {
				token = tc.token.mint(t)
			}
			ctx := context.Background()
			if tc.review != nil {
				ctx = authenticator.WithAudiences(ctx, tc.review)
			}
			// Twice: the second answer comes from the cache and must agree.
			for i := range 2 {
				resp, ok, err := c.AuthenticateToken(ctx, token)
				if ok != (tc.wantErr == nil) || !errors.Is(err, tc.wantErr) {
					t.Fatalf("review %d: got ok=%v err=%v, want err %v", i, ok, err, tc.wantErr)
				}
				if ok {
					if diff := cmp.Diff(tc.wantAuds, resp.Audiences); diff != "" {
						t.Errorf("review %d: audiences (-want +got):\n%s", i, diff)
					}
				}
			}
		})
	}
}

// A service account that mints its own token for the loop guard gains
// nothing, locally either: the member's review does not match it, and a
// review naming the guard is answered as a loop.
func TestChainLoopGuardAudienceTokenGainsNothing(t *testing.T) {
	trusted, _ := testKeys()
	claims := boundClaims(time.Now())
	claims["aud"] = []string{LoopGuardAudience}
	token := sign(t, trusted, knownKid, claims)
	up := newFakeUpstream(t, answerSA)
	c := newChain(t, hubConfig(t, up, onFailure))

	for _, review := range []authenticator.Audiences{nil, {memberAudience}, {LoopGuardAudience}, {memberAudience, LoopGuardAudience}} {
		ctx := context.Background()
		if review != nil {
			ctx = authenticator.WithAudiences(ctx, review)
		}
		if _, ok, err := c.AuthenticateToken(ctx, token); ok || err == nil {
			t.Errorf("review audiences %q: got ok=%v err=%v, want refused", review, ok, err)
		}
	}
	if n := up.hits.Load(); n != 0 {
		t.Errorf("got %d upstream calls, want 0", n)
	}
	if !strings.HasPrefix(LoopGuardAudience, v1alpha1.ReservedAudienceDomain) {
		t.Errorf("loop guard %q is outside the reserved audience domain %q, so an issuer could be configured to accept it", LoopGuardAudience, v1alpha1.ReservedAudienceDomain)
	}
}

// namespaceCases: an unprefixed issuer ("local") sits beside hub. What its
// upstream answers may not land in hub's namespace, carry reserved extras,
// or be empty.
var namespaceCases = []struct {
	name      string
	issuer    string // whose upstream answers
	user      authenticationv1.UserInfo
	wantUser  string
	wantGroup []string
	wantExtra map[string][]string
	wantErr   error
}{
	{name: "a local user", issuer: "local", user: authenticationv1.UserInfo{Username: "system:serviceaccount:ns:sa", Groups: []string{"system:serviceaccounts"}},
		wantUser: "system:serviceaccount:ns:sa", wantGroup: []string{"system:serviceaccounts"}, wantExtra: map[string][]string{mapping.IssuerExtraKey: {"local"}}},
	{name: "an unprefixed upstream names a hub user", issuer: "local", user: authenticationv1.UserInfo{Username: hubUser}, wantErr: mapping.ErrForeignIdentity},
	{name: "the same in another case", issuer: "local", user: authenticationv1.UserInfo{Username: "HUB:system:serviceaccount:ns:sa"}, wantErr: mapping.ErrForeignIdentity},
	{name: "an unprefixed upstream names a hub group", issuer: "local", user: authenticationv1.UserInfo{Username: "alice", Groups: []string{"hub:system:serviceaccounts"}}, wantErr: mapping.ErrForeignIdentity},
	{name: "a case variant of the issuer extra is dropped", issuer: "local",
		user: authenticationv1.UserInfo{Username: "alice", Extra: map[string]authenticationv1.ExtraValue{
			"Tokenfed.io/Issuer": {"hub"}, "TOKENFED.IO/other": {"x"}, "example.com/team": {"a"},
		}},
		wantUser: "alice", wantExtra: map[string][]string{mapping.IssuerExtraKey: {"local"}, "example.com/team": {"a"}}},
	{name: "the issuer extra itself is replaced", issuer: "hub",
		user:     authenticationv1.UserInfo{Username: "alice", Extra: map[string]authenticationv1.ExtraValue{mapping.IssuerExtraKey: {"local"}}},
		wantUser: "hub:alice", wantExtra: map[string][]string{mapping.IssuerExtraKey: {"hub"}}},
	{name: "an empty username from an unprefixed upstream", issuer: "local", user: authenticationv1.UserInfo{Groups: []string{"dev"}}, wantErr: mapping.ErrEmptyUsername},
	{name: "an empty username never becomes the bare prefix", issuer: "hub", user: authenticationv1.UserInfo{Groups: []string{"dev"}}, wantErr: mapping.ErrEmptyUsername},
	{name: "an empty group is dropped, not the bare prefix", issuer: "hub", user: authenticationv1.UserInfo{Username: "alice", Groups: []string{"", "dev"}},
		wantUser: "hub:alice", wantGroup: []string{"hub:dev"}, wantExtra: map[string][]string{mapping.IssuerExtraKey: {"hub"}}},
}

func TestChainIdentityNamespaces(t *testing.T) {
	for _, tc := range namespaceCases {
		t.Run(tc.name, func(t *testing.T) {
			up := newFakeUpstream(t, answerUser(tc.user))
			c := newChain(t, withLocalIssuer(t, up, tc.issuer))

			resp, ok, err := c.AuthenticateToken(context.Background(), "opaque-token")

			if ok != (tc.wantErr == nil) || !errors.Is(err, tc.wantErr) {
				t.Fatalf("got ok=%v err=%v, want err %v", ok, err, tc.wantErr)
			}
			if !ok {
				return
			}
			u := resp.User
			if u.GetName() != tc.wantUser || !cmp.Equal(u.GetGroups(), tc.wantGroup, cmpEmpty) || !cmp.Equal(u.GetExtra(), tc.wantExtra, cmpEmpty) {
				t.Errorf("got %q %q %v, want %q %q %v", u.GetName(), u.GetGroups(), u.GetExtra(), tc.wantUser, tc.wantGroup, tc.wantExtra)
			}
		})
	}
}

var cmpEmpty = cmp.Comparer(func(a, b []string) bool { return len(a) == 0 && len(b) == 0 || cmp.Equal([]string(a), []string(b)) })

// withLocalIssuer is hub plus an unprefixed issuer "local" (another URL);
// opaque tokens go to opaqueTo's upstream, which is up.
func withLocalIssuer(t testing.TB, up *fakeUpstream, opaqueTo string) *v1alpha1.Configuration {
	t.Helper()
	cfg := hubConfig(t, nil, never)
	empty := ""
	cfg.Issuers = append(cfg.Issuers, v1alpha1.Issuer{
		Name: "local", URL: "https://local.test", StaticKeys: &v1alpha1.StaticKeys{JWKS: trustedJWKS(t)},
		Mapping: v1alpha1.Mapping{Prefix: &empty, AllowUnprefixed: true},
	})
	for i := range cfg.Issuers {
		if cfg.Issuers[i].Name == opaqueTo {
			cfg.Issuers[i].Upstream = &v1alpha1.Upstream{Kubeconfig: up.kubeconfig(t), Policy: onFailure}
		}
	}
	cfg.OpaqueTokenUpstream = opaqueTo
	return cfg
}
