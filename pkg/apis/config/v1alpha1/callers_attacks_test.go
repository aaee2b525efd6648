package v1alpha1

// Validation attacks found by a security review.
// docs/callers.md: a caller token "must be valid for one of
// callers.tokens.audiences. A token minted for anything else, including the
// issuing cluster's own API, is not a credential. Without this check, any
// service that received the app's token could replay it to tokenfed as the
// app." Validation must therefore refuse caller audiences that ordinary
// tokens of a caller-token issuer carry anyway, or that tokenfed reserves.

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestCallerTokenAudiencesMustBeMintedForTokenfed(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Configuration)
		want   string
	}{
		{
			// hub's default audiences are [its URL] (kube-apiserver's default
			// --api-audiences): every pod token of hub, and every token any
			// user presents to hub's API, would be a caller credential.
			name: "caller audience is the caller issuer's own API audience",
			mutate: func(c *Configuration) {
				SetDefaults(c)
				c.Callers.Tokens = &CallerTokens{Audiences: []string{"https://hub.example.com"}, Issuers: []string{"hub"}}
			},
			want: "callers.tokens.audiences[0]",
		},
		{
			// An OIDC issuer's review audiences stand in for its own audience
			// check: with "tokenfed" listed there, every ID token of corp for
			// its usual client is valid for "tokenfed", i.e. a caller
			// credential, although none was minted for tokenfed.
			name: "caller audience is a stand-in review audience of an OIDC caller issuer",
			mutate: func(c *Configuration) {
				c.Issuers[1].Audiences = []string{"kubernetes"}
				c.Issuers[1].ReviewAudiences = []string{"tokenfed"}
				SetDefaults(c)
				c.Callers.Tokens = &CallerTokens{Audiences: []string{"tokenfed"}, Issuers: []string{"corp"}}
			},
			want: "callers.tokens.audiences[0]",
		},
		{
			// tokenfed.io/ audiences are tokenfed's protocol markers (the loop
			// guard); every other audience list refuses them.
			name: "caller audience in the reserved tokenfed.io/ domain",
			mutate: func(c *Configuration) {
				c.Callers.Tokens = &CallerTokens{Audiences: []string{"tokenfed.io/loop-guard"}, Issuers: []string{"hub"}}
			},
			want: `callers.tokens.audiences[0]: Invalid value: "tokenfed.io/loop-guard"`,
		},
		{
			name: "policy audience in the reserved tokenfed.io/ domain",
			mutate: func(c *Configuration) {
				c.Callers.Authorization.Static = []CallerPolicy{{Name: "p", Users: []string{"u"}, Issuers: []string{"hub"}, Audiences: []string{"tokenfed.io/loop-guard"}}}
			},
			want: `callers.authorization.static[0].audiences[0]`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := LoadFile(filepath.Join("testdata", "issuer-minimal.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			tc.mutate(cfg)
			got := Validate(cfg).ToAggregate()
			if got == nil || !strings.Contains(got.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", got, tc.want)
			}
		})
	}
}

// TestCallerTokenIssuerMustBePrefixed: static
// policies match users and groups by name, whatever the credential: "a
// client certificate's CN, or the federated name of a token (with its
// issuer's prefix)". Certificate identities are unprefixed. An unprefixed
// caller-token issuer (mapping.allowUnprefixed) therefore emits names in
// the very namespace of certificate CNs and Os: an OIDC user of corp whose
// username claim is "member-a", or whose groups claim holds
// "tokenfed:operators", takes the policy written for the member-a
// certificate or the operators' certificates. The identity-namespace rule
// (DESIGN: "What one issuer can produce never overlaps with what another
// can. This is checked when the config loads") is not extended to the
// certificate namespace, and nothing warns.
func TestCallerTokenIssuerMustBePrefixed(t *testing.T) {
	cfg, err := LoadFile(filepath.Join("testdata", "issuer-minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Issuers[1].Mapping.Prefix, cfg.Issuers[1].Mapping.AllowUnprefixed = ptr(""), true
	SetDefaults(cfg)
	cfg.Callers.Tokens = &CallerTokens{Audiences: []string{"tokenfed"}, Issuers: []string{"corp"}}
	cfg.Callers.Authorization.Static = []CallerPolicy{
		{Name: "members", Users: []string{"member-a"}, Issuers: []string{"hub"}},
		{Name: "monitoring", Groups: []string{"tokenfed:operators"}, Endpoints: []string{"/metrics", "/readyz"}},
	}
	got := Validate(cfg).ToAggregate()
	if got == nil || !strings.Contains(got.Error(), "callers.tokens.issuers[0]") {
		t.Errorf("got %v, want an error at callers.tokens.issuers[0]: an unprefixed caller-token issuer can emit the certificate callers' names", got)
	}
}
