package authn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn/jwt"
	"github.com/tokenfed/tokenfed/pkg/authn/keyset"
	"github.com/tokenfed/tokenfed/pkg/authn/mapping"
	"github.com/tokenfed/tokenfed/pkg/authn/upstream"
)

const hubUser = "hub:system:serviceaccount:ns:sa"

var (
	never     = v1alpha1.UpstreamNever
	onFailure = v1alpha1.UpstreamOnFailure
	always    = v1alpha1.UpstreamAlways
	whenBound = v1alpha1.UpstreamWhenBound
)

// policyCases: which tokens each policy authenticates, and which it asks
// the issuing cluster about. Locally known-bad tokens (expired) are never
// sent; tokens that cannot be verified locally are sent unless the policy
// is never. A token with a key the issuer's freshly fetched document does
// not hold is known-bad too: the issuer does not sign with that key, so it
// is another cluster's token. Static keys (the default here) may lag a
// rotation, and keys that cannot be fetched say nothing, so then the
// cluster decides.
var policyCases = []struct {
	policy       v1alpha1.UpstreamPolicy
	keys         hubKeys
	token        tokenKind
	wantAuth     bool
	wantUpstream bool
	wantErr      error
}{
	{policy: never, token: plainToken, wantAuth: true},
	{policy: never, token: podBoundToken, wantAuth: true},
	{policy: never, token: legacyToken, wantErr: jwt.ErrLegacyNeedsUpstream},
	{policy: never, token: unknownKeyToken, wantErr: keyset.ErrUnknownKey},
	{policy: never, token: expiredToken, wantErr: jwt.ErrExpired},

	{policy: onFailure, token: plainToken, wantAuth: true},
	{policy: onFailure, token: podBoundToken, wantAuth: true},
	{policy: onFailure, token: legacyToken, wantAuth: true, wantUpstream: true},
	{policy: onFailure, token: unknownKeyToken, wantAuth: true, wantUpstream: true},
	{policy: onFailure, token: expiredToken, wantErr: jwt.ErrExpired},

	{policy: always, token: plainToken, wantAuth: true, wantUpstream: true},
	{policy: always, token: podBoundToken, wantAuth: true, wantUpstream: true},
	{policy: always, token: legacyToken, wantAuth: true, wantUpstream: true},
	{policy: always, token: unknownKeyToken, wantAuth: true, wantUpstream: true},
	{policy: always, token: expiredToken, wantErr: jwt.ErrExpired},

	{policy: whenBound, token: plainToken, wantAuth: true},
	{policy: whenBound, token: podBoundToken, wantAuth: true, wantUpstream: true},
	{policy: whenBound, token: legacyToken, wantAuth: true, wantUpstream: true},
	{policy: whenBound, token: unknownKeyToken, wantAuth: true, wantUpstream: true},
	{policy: whenBound, token: expiredToken, wantErr: jwt.ErrExpired},

	{policy: never, keys: hubFetched, token: plainToken, wantAuth: true},
	{policy: never, keys: hubFetched, token: unknownKeyToken, wantErr: keyset.ErrUnpublishedKey},
	{policy: onFailure, keys: hubFetched, token: legacyToken, wantAuth: true, wantUpstream: true},
	{policy: onFailure, keys: hubFetched, token: unknownKeyToken, wantErr: keyset.ErrUnpublishedKey},
	{policy: always, keys: hubFetched, token: plainToken, wantAuth: true, wantUpstream: true},
	{policy: always, keys: hubFetched, token: unknownKeyToken, wantErr: keyset.ErrUnpublishedKey},
	{policy: whenBound, keys: hubFetched, token: unknownKeyToken, wantErr: keyset.ErrUnpublishedKey},

	{policy: never, keys: hubDown, token: plainToken, wantErr: keyset.ErrNotReady},
	{policy: onFailure, keys: hubDown, token: plainToken, wantAuth: true, wantUpstream: true},
	{policy: onFailure, keys: hubDown, token: unknownKeyToken, wantAuth: true, wantUpstream: true},
	{policy: always, keys: hubDown, token: unknownKeyToken, wantAuth: true, wantUpstream: true},
}

func TestChainPolicies(t *testing.T) {
	for _, tc := range policyCases {
		t.Run(fmt.Sprintf("%s/%s/%s", tc.policy, tc.keys, tc.token), func(t *testing.T) {
			up := newFakeUpstream(t, answerSA)
			cfg := hubConfig(t, up, tc.policy)
			if tc.keys != hubStatic {
				trusted, _ := testKeys()
				keys := newKeyServer(t, jwk(trusted, knownKid))
				keys.serve(t, &cfg.Issuers[0])
				if tc.keys == hubDown {
					keys.fail()
				}
			}
			c := newChain(t, cfg)
			token := tc.token.mint(t)

			resp, ok, err := c.AuthenticateToken(context.Background(), token)

			if ok != tc.wantAuth || !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("got ok=%v err=%v, want ok=%v err=%v", ok, err, tc.wantAuth, tc.wantErr)
			}
			if ok && resp.User.GetName() != hubUser {
				t.Errorf("got user %q, want %q", resp.User.GetName(), hubUser)
			}
			sent := up.sent()
			if got := len(sent) > 0; got != tc.wantUpstream || len(sent) > 1 {
				t.Fatalf("got %d upstream reviews, want upstream called=%v", len(sent), tc.wantUpstream)
			}
			if len(sent) == 1 && sent[0].Token != token {
				t.Errorf("got a different token sent upstream, want the reviewed one")
			}
		})
	}
}

// A review that tokenfed itself forwarded comes back with the loop guard
// among its audiences; it is answered at once, whatever the policy.
func TestChainLoopGuard(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy v1alpha1.UpstreamPolicy
		token  func(t testing.TB) string
	}{
		{name: "always, plain token", policy: always, token: plainToken.mint},
		{name: "onFailure, legacy token", policy: onFailure, token: legacyToken.mint},
		{name: "opaque token", policy: onFailure, token: func(testing.TB) string { return "opaque-token" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newFakeUpstream(t, answerSA)
			cfg := hubConfig(t, up, tc.policy)
			cfg.OpaqueTokenUpstream = "hub"
			c := newChain(t, cfg)
			ctx := authenticator.WithAudiences(context.Background(), authenticator.Audiences{issuerURL, LoopGuardAudience})

			resp, ok, err := c.AuthenticateToken(ctx, tc.token(t))

			if ok || !errors.Is(err, errLoop) {
				t.Errorf("got %v, %v, %v; want errLoop", resp, ok, err)
			}
			if n := up.hits.Load(); n != 0 {
				t.Errorf("got %d upstream calls, want 0", n)
			}
		})
	}
}

// confirmCases: a token verified locally (aud [issuerURL]) that the policy
// has its cluster confirm. The loop guard goes upstream with the review's
// audiences (or the issuer's) and does not come back in the answer. The
// cluster can refuse the token, but not widen what local verification
// found: the answer names the audiences both found, and the user the
// token's claims name.
var confirmCases = []struct {
	name     string
	policy   v1alpha1.UpstreamPolicy
	token    tokenKind
	answer   answerFunc
	review   authenticator.Audiences
	wantSent []string
	wantAuds authenticator.Audiences
	wantErr  error
}{
	{name: "review names none: the issuer's audiences", policy: always, answer: answerSA,
		wantSent: []string{issuerURL, LoopGuardAudience}, wantAuds: authenticator.Audiences{issuerURL}},
	{name: "review names some: all of them go upstream", policy: always, answer: answerKubeAPIServer(issuerURL),
		review:   authenticator.Audiences{"https://other.test", issuerURL},
		wantSent: []string{"https://other.test", issuerURL, LoopGuardAudience}, wantAuds: authenticator.Audiences{issuerURL}},
	{name: "upstream echoes every audience asked: only the token's come back", policy: always, answer: answerSA,
		review:   authenticator.Audiences{"https://other.test", issuerURL},
		wantSent: []string{"https://other.test", issuerURL, LoopGuardAudience}, wantAuds: authenticator.Audiences{issuerURL}},
	{name: "whenBound: the same for a bound token", policy: whenBound, token: podBoundToken, answer: answerSA,
		review:   authenticator.Audiences{"https://other.test", issuerURL},
		wantSent: []string{"https://other.test", issuerURL, LoopGuardAudience}, wantAuds: authenticator.Audiences{issuerURL}},
	{name: "upstream confirms only an audience the token lacks", policy: always, answer: answerAudiences("https://other.test"),
		review:   authenticator.Audiences{"https://other.test", issuerURL},
		wantSent: []string{"https://other.test", issuerURL, LoopGuardAudience}, wantErr: jwt.ErrAudience},
	{name: "upstream confirms another user", policy: always, answer: answerUser(authenticationv1.UserInfo{Username: "system:serviceaccount:ns:other"}),
		wantSent: []string{issuerURL, LoopGuardAudience}, wantErr: errConfirmedAnother},
}

func TestChainConfirmation(t *testing.T) {
	for _, tc := range confirmCases {
		t.Run(tc.name, func(t *testing.T) {
			up := newFakeUpstream(t, tc.answer)
			c := newChain(t, hubConfig(t, up, tc.policy))
			ctx := context.Background()
			if tc.review != nil {
				ctx = authenticator.WithAudiences(ctx, tc.review)
			}

			resp, ok, err := c.AuthenticateToken(ctx, tc.token.mint(t))

			if ok != (tc.wantErr == nil) || !errors.Is(err, tc.wantErr) {
				t.Fatalf("got ok=%v err=%v, want err %v", ok, err, tc.wantErr)
			}
			if ok {
				if diff := cmp.Diff(tc.wantAuds, resp.Audiences); diff != "" {
					t.Errorf("response audiences (-want +got):\n%s", diff)
				}
			}
			sent := up.sent()
			if len(sent) != 1 {
				t.Fatalf("got %d upstream reviews, want 1", len(sent))
			}
			if diff := cmp.Diff(tc.wantSent, sent[0].Audiences); diff != "" {
				t.Errorf("audiences sent upstream (-want +got):\n%s", diff)
			}
		})
	}
}

func TestChainOpaqueTokens(t *testing.T) {
	const opaque = "sha256~not-a-jwt-at-all"
	for _, tc := range []struct {
		name         string
		opaqueTo     string
		wantUser     string
		wantErr      error
		wantUpstream int64
	}{
		{name: "no opaque upstream: rejected, sent nowhere", wantErr: errOpaque},
		{name: "opaque upstream: its cluster decides", opaqueTo: "hub", wantUser: hubUser, wantUpstream: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newFakeUpstream(t, answerSA)
			cfg := hubConfig(t, up, onFailure)
			cfg.OpaqueTokenUpstream = tc.opaqueTo
			c := newChain(t, cfg)

			resp, ok, err := c.AuthenticateToken(context.Background(), opaque)

			if !errors.Is(err, tc.wantErr) || ok != (tc.wantErr == nil) {
				t.Fatalf("got ok=%v err=%v, want err %v", ok, err, tc.wantErr)
			}
			if ok && resp.User.GetName() != tc.wantUser {
				t.Errorf("got user %q, want %q", resp.User.GetName(), tc.wantUser)
			}
			if n := up.hits.Load(); n != tc.wantUpstream {
				t.Errorf("got %d upstream calls, want %d", n, tc.wantUpstream)
			}
			if sent := up.sent(); len(sent) == 1 && sent[0].Token != opaque {
				t.Errorf("got token %q sent upstream, want the opaque token", sent[0].Token)
			}
		})
	}
}

// An outage says nothing about the token, so the next review asks again;
// a rejection is the cluster's answer and is reused for FailureTTL.
func TestChainCachesUpstreamAnswersButNotOutages(t *testing.T) {
	for _, tc := range []struct {
		name         string
		answer       answerFunc
		wantErr      error
		wantUpstream int64
	}{
		{name: "unavailable is not cached", answer: answer500, wantErr: ErrUnavailable, wantUpstream: 2},
		{name: "rejection is cached", answer: answerRejected, wantErr: upstream.ErrRejected, wantUpstream: 1},
		{name: "success is cached", answer: answerSA, wantUpstream: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newFakeUpstream(t, tc.answer)
			c := newChain(t, hubConfig(t, up, onFailure))
			token := legacyToken.mint(t)

			for i := range 2 {
				_, ok, err := c.AuthenticateToken(context.Background(), token)
				if !errors.Is(err, tc.wantErr) || ok != (tc.wantErr == nil) {
					t.Fatalf("review %d: got ok=%v err=%v, want err %v", i, ok, err, tc.wantErr)
				}
			}
			if n := up.hits.Load(); n != tc.wantUpstream {
				t.Errorf("got %d upstream calls, want %d", n, tc.wantUpstream)
			}
		})
	}
}

func TestChainCoalescesConcurrentReviews(t *testing.T) {
	const n = 50
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	up := newFakeUpstream(t, func(w http.ResponseWriter, review *authenticationv1.TokenReview) {
		once.Do(func() { close(arrived) })
		<-release
		answerSA(w, review)
	})
	c := newChain(t, hubConfig(t, up, onFailure))
	token := legacyToken.mint(t)

	start := make(chan struct{})
	results := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			resp, ok, err := c.AuthenticateToken(context.Background(), token)
			if !ok || err != nil {
				results <- fmt.Sprintf("ok=%v err=%v", ok, err)
				return
			}
			results <- resp.User.GetName()
		})
	}
	close(start)
	<-arrived
	close(release)
	wg.Wait()
	close(results)

	for got := range results {
		if got != hubUser {
			t.Errorf("got %s, want user %q", got, hubUser)
		}
	}
	if n := up.hits.Load(); n != 1 {
		t.Errorf("got %d upstream calls, want 1", n)
	}
}

// The cluster's user goes through the issuer's mapping like a locally
// verified one: prefixed, privileged groups dropped, issuer extra added.
func TestChainMapsUpstreamUsers(t *testing.T) {
	custom := "cluster-a/"
	for _, tc := range []struct {
		name            string
		prefix          *string
		deniedGroups    []string
		deniedUsernames []string
		upstream        authenticationv1.UserInfo
		want            *user.DefaultInfo
		wantErr         error
	}{
		{
			name: "default prefix, system:masters and system:authenticated dropped",
			upstream: authenticationv1.UserInfo{
				Username: "system:serviceaccount:ns:sa", UID: "sa-uid",
				Groups: []string{user.SystemPrivilegedGroup, "system:serviceaccounts", user.AllAuthenticated},
				Extra:  map[string]authenticationv1.ExtraValue{"authentication.kubernetes.io/pod-name": {"web-0"}},
			},
			want: &user.DefaultInfo{
				Name: hubUser, UID: "sa-uid", Groups: []string{"hub:system:serviceaccounts"},
				Extra: map[string][]string{"authentication.kubernetes.io/pod-name": {"web-0"}, mapping.IssuerExtraKey: {"hub"}},
			},
		},
		{
			name:         "custom prefix and globally denied groups",
			prefix:       &custom,
			deniedGroups: []string{"ops"},
			upstream:     authenticationv1.UserInfo{Username: "alice", Groups: []string{"ops", "dev"}},
			want: &user.DefaultInfo{
				Name: "cluster-a/alice", Groups: []string{"cluster-a/dev"},
				Extra: map[string][]string{mapping.IssuerExtraKey: {"hub"}},
			},
		},
		{
			name:            "a denied username is rejected",
			deniedUsernames: []string{"system:serviceaccount:ns:sa"},
			upstream:        saUser,
			wantErr:         mapping.ErrDeniedUser,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newFakeUpstream(t, answerUser(tc.upstream))
			cfg := hubConfig(t, up, onFailure)
			cfg.Issuers[0].Mapping.Prefix = tc.prefix
			cfg.DeniedGroups = tc.deniedGroups
			cfg.Issuers[0].Mapping.DeniedUsernames = tc.deniedUsernames
			cfg.OpaqueTokenUpstream = "hub"
			c := newChain(t, cfg)

			resp, ok, err := c.AuthenticateToken(context.Background(), "opaque-token")

			if ok != (tc.wantErr == nil) || !errors.Is(err, tc.wantErr) {
				t.Fatalf("got ok=%v err=%v, want err %v", ok, err, tc.wantErr)
			}
			if !ok {
				return
			}
			if diff := cmp.Diff(tc.want, asDefaultInfo(resp.User), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("user (-want +got):\n%s", diff)
			}
		})
	}
}

// asDefaultInfo is u as a *user.DefaultInfo, whatever its type: cached
// answers carry interned users (mapping.User).
func asDefaultInfo(u user.Info) *user.DefaultInfo {
	return &user.DefaultInfo{Name: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups(), Extra: u.GetExtra()}
}
