package jwt

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
)

const idpIssuer = "https://idp.example"

func ptr[T any](v T) *T { return &v }

// jwtAuthenticator maps sub and groups with prefixes, adds a CEL extra, and
// has one claim rule and one user rule, to show CEL runs as in
// kube-apiserver.
func jwtAuthenticator() apiserver.JWTAuthenticator {
	return apiserver.JWTAuthenticator{
		Issuer: apiserver.Issuer{
			URL:                 idpIssuer,
			DiscoveryURL:        "https://idp.internal/.well-known/openid-configuration",
			Audiences:           []string{"tokenfed", "other"},
			AudienceMatchPolicy: apiserver.AudienceMatchPolicyMatchAny,
		},
		ClaimMappings: apiserver.ClaimMappings{
			Username: apiserver.PrefixedClaimOrExpression{Claim: "sub", Prefix: ptr("idp:")},
			Groups:   apiserver.PrefixedClaimOrExpression{Claim: "groups", Prefix: ptr("idp:")},
			Extra:    []apiserver.ExtraMapping{{Key: "example.com/tenant", ValueExpression: "claims.tenant"}},
		},
		ClaimValidationRules: []apiserver.ClaimValidationRule{{Expression: "claims.tenant != 'blocked'", Message: "tenant is blocked"}},
		UserValidationRules:  []apiserver.UserValidationRule{{Expression: "!user.username.startsWith('idp:admin')", Message: "admins may not use this issuer"}},
	}
}

func newOIDCVerifier(t testing.TB) *OIDCVerifier {
	t.Helper()
	v, err := NewOIDCVerifier(t.Context(), OIDCOptions{
		JWTAuthenticator:     jwtAuthenticator(),
		KeySet:               staticKeySet(t, "RS256", "ES256"),
		SupportedSigningAlgs: []string{"RS256", "ES256"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// idToken claims are relative to the real clock: the OIDC authenticator
// does not expose a clock seam.
func idToken(set map[string]any) map[string]any {
	return buildClaims(func() map[string]any {
		return map[string]any{
			"iss": idpIssuer, "aud": "tokenfed", "sub": "alice", "groups": []string{"dev"},
			"tenant": "t1", "exp": unix(time.Now().Add(time.Hour)), "iat": unix(time.Now()),
		}
	}, set)
}

func TestOIDCVerify(t *testing.T) {
	v := newOIDCVerifier(t)
	alice := &user.DefaultInfo{Name: "idp:alice", Groups: []string{"idp:dev"}, Extra: map[string][]string{"example.com/tenant": {"t1"}}}
	tests := []struct {
		name      string
		set       map[string]any
		audiences authenticator.Audiences
		wantUser  *user.DefaultInfo
		wantAuds  authenticator.Audiences
		wantErr   string
	}{
		{name: "valid", wantUser: alice, wantAuds: authenticator.Audiences{"tokenfed"}},
		{name: "second configured audience", set: map[string]any{"aud": []string{"x", "other"}}, wantUser: alice, wantAuds: authenticator.Audiences{"other"}},
		{name: "review audience", audiences: authenticator.Audiences{"other", "tokenfed"}, wantUser: alice, wantAuds: authenticator.Audiences{"tokenfed"}},
		{name: "review audience the token lacks", audiences: authenticator.Audiences{"other"}, wantErr: ErrAudience.Error()},
		{name: "wrong aud", set: map[string]any{"aud": "x"}, wantErr: "expected audience"},
		{name: "wrong iss", set: map[string]any{"iss": "https://evil.example"}, wantErr: ErrIssuer.Error()},
		{name: "expired", set: map[string]any{"exp": unix(time.Now().Add(-time.Hour))}, wantErr: "expired"},
		{name: "missing exp", set: map[string]any{"exp": nil}, wantErr: "expired"},
		{name: "nbf in the future", set: map[string]any{"nbf": unix(time.Now().Add(time.Hour))}, wantErr: "nbf"},
		{name: "claim rule", set: map[string]any{"tenant": "blocked"}, wantErr: "tenant is blocked"},
		{name: "user rule", set: map[string]any{"sub": "admin"}, wantErr: "admins may not use this issuer"},
		{name: "missing username claim", set: map[string]any{"sub": nil}, wantErr: "sub"},
		{name: "empty sub is refused, not the bare prefix", set: map[string]any{"sub": ""}, wantErr: ErrEmptyUsernameClaim.Error()},
		{name: "empty group is dropped, not the bare prefix", set: map[string]any{"groups": []string{"", "dev"}}, wantUser: alice, wantAuds: authenticator.Audiences{"tokenfed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			claims := idToken(tc.set)
			ctx := context.Background()
			if tc.audiences != nil {
				ctx = authenticator.WithAudiences(ctx, tc.audiences)
			}
			got, err := v.Verify(ctx, signClaims(t, claims))
			if !errContains(err, tc.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if !reflect.DeepEqual(got.Response.User, tc.wantUser) || !reflect.DeepEqual(got.Response.Audiences, tc.wantAuds) {
				t.Fatalf("got %+v %q, want %+v %q", got.Response.User, got.Response.Audiences, tc.wantUser, tc.wantAuds)
			}
			checkExpiry(t, got.Expiry, claims["exp"])
			if got.BoundTo != BoundNone {
				t.Fatalf("got bound %s, want none", got.BoundTo)
			}
		})
	}
}

// TestOIDCBareCEL: CEL mappings that add text to an empty claim yield a
// name no one owns; kube-apiserver only refuses an empty one.
func TestOIDCBareCEL(t *testing.T) {
	ja := jwtAuthenticator()
	ja.ClaimMappings.Username = apiserver.PrefixedClaimOrExpression{Expression: `"u:" + claims.sub`}
	ja.ClaimMappings.Groups = apiserver.PrefixedClaimOrExpression{Expression: `dyn(claims.groups).map(g, "g:" + g)`}
	ja.UserValidationRules = nil
	v, err := NewOIDCVerifier(t.Context(), OIDCOptions{JWTAuthenticator: ja, KeySet: staticKeySet(t, "RS256")})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		set        map[string]any
		wantName   string
		wantGroups []string
		wantErr    error
	}{
		{name: "claims set", wantName: "u:alice", wantGroups: []string{"g:dev"}},
		{name: "empty sub", set: map[string]any{"sub": ""}, wantErr: ErrEmptyUsernameClaim},
		{name: "empty group", set: map[string]any{"groups": []string{"", "dev", ""}}, wantName: "u:alice", wantGroups: []string{"g:dev"}},
		{name: "only an empty group", set: map[string]any{"groups": []string{""}}, wantName: "u:alice", wantGroups: []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := v.Verify(context.Background(), signClaims(t, idToken(tc.set)))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got error %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if u := got.Response.User; u.GetName() != tc.wantName || !slices.Equal(u.GetGroups(), tc.wantGroups) {
				t.Fatalf("got %q %q, want %q %q", u.GetName(), u.GetGroups(), tc.wantName, tc.wantGroups)
			}
		})
	}
}

// TestOIDCReviewAudiences: a member kube-apiserver reviews with its own API
// audiences, which an OIDC token never carries. ReviewAudiences lets the
// issuer's own aud check stand in for them, and for nothing else.
func TestOIDCReviewAudiences(t *testing.T) {
	const member = "https://member.example"
	v, err := NewOIDCVerifier(t.Context(), OIDCOptions{
		JWTAuthenticator: jwtAuthenticator(), KeySet: staticKeySet(t, "RS256"),
		ReviewAudiences: []string{member, "https://member2.example"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		tokenAud  any
		audiences authenticator.Audiences
		wantAuds  authenticator.Audiences
		wantErr   string
	}{
		{name: "member's API audience", audiences: authenticator.Audiences{member}, wantAuds: authenticator.Audiences{member}},
		{name: "only the listed review audiences are answered", audiences: authenticator.Audiences{"https://app.example", member}, wantAuds: authenticator.Audiences{member}},
		{name: "direct match wins", audiences: authenticator.Audiences{member, "tokenfed"}, wantAuds: authenticator.Audiences{"tokenfed"}},
		{name: "an audience an app merely asks about", audiences: authenticator.Audiences{"https://app.example"}, wantErr: ErrAudience.Error()},
		{name: "no review audiences", wantAuds: authenticator.Audiences{"tokenfed"}},
		{name: "token not for the issuer's audiences", tokenAud: "x", audiences: authenticator.Audiences{member}, wantErr: "expected audience"},
		{name: "token for the member itself is still checked by the issuer", tokenAud: member, audiences: authenticator.Audiences{member}, wantErr: "expected audience"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := map[string]any{}
			if tc.tokenAud != nil {
				set["aud"] = tc.tokenAud
			}
			ctx := context.Background()
			if tc.audiences != nil {
				ctx = authenticator.WithAudiences(ctx, tc.audiences)
			}
			got, err := v.Verify(ctx, signClaims(t, idToken(set)))
			if !errContains(err, tc.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
			}
			if err == nil && !reflect.DeepEqual(got.Response.Audiences, tc.wantAuds) {
				t.Fatalf("got audiences %q, want %q", got.Response.Audiences, tc.wantAuds)
			}
		})
	}
}

// TestOIDCDistributedClaimsRefused: a signed token naming a claim source
// must not make tokenfed connect to it unless a Client is configured.
func TestOIDCDistributedClaimsRefused(t *testing.T) {
	spy := newSpy(t)
	v := newOIDCVerifier(t)
	claims := idToken(map[string]any{
		"groups":         nil,
		"_claim_names":   map[string]string{"groups": "src1"},
		"_claim_sources": map[string]any{"src1": map[string]string{"endpoint": spy.URL + "/groups"}},
	})
	_, err := v.Verify(context.Background(), signClaims(t, claims))
	if !errContains(err, "distributed claims are disabled") {
		t.Fatalf("got error %v, want distributed claims refused", err)
	}
	if got := spy.hits.Load(); got != 0 {
		t.Fatalf("got %d requests to the claim source, want 0", got)
	}
}

func TestNewOIDCVerifierValidation(t *testing.T) {
	ks := staticKeySet(t)
	tests := []struct {
		name    string
		mutate  func(*apiserver.JWTAuthenticator)
		ks      bool
		wantErr string
	}{
		{name: "no key set", mutate: func(*apiserver.JWTAuthenticator) {}, wantErr: "key set"},
		{name: "http issuer", ks: true, mutate: func(a *apiserver.JWTAuthenticator) { a.Issuer.URL = "http://idp" }, wantErr: "https"},
		{name: "no audiences", ks: true, mutate: func(a *apiserver.JWTAuthenticator) { a.Issuer.Audiences = nil }, wantErr: "audiences"},
		{name: "bad CEL", ks: true, mutate: func(a *apiserver.JWTAuthenticator) { a.ClaimValidationRules[0].Expression = "claims.(" }, wantErr: "claimValidationRules"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ja := jwtAuthenticator()
			tc.mutate(&ja)
			opts := OIDCOptions{JWTAuthenticator: ja}
			if tc.ks {
				opts.KeySet = ks
			}
			_, err := NewOIDCVerifier(t.Context(), opts)
			if !errContains(err, tc.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func errContains(err error, want string) bool {
	if want == "" {
		return err == nil
	}
	return err != nil && strings.Contains(err.Error(), want)
}
