package v1alpha1

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestValidateRevocation: issuers[0] of issuer-minimal.yaml is a
// ServiceAccount issuer with an onFailure upstream, issuers[1] is OIDC.
// Each case adds a revocation block, is defaulted, then validated.
func TestValidateRevocation(t *testing.T) {
	watch := func(mutate func(r *Revocation, is *Issuer)) func(*Configuration) {
		return func(c *Configuration) {
			c.Issuers[0].Revocation = &Revocation{Mode: RevocationWatch}
			mutate(c.Issuers[0].Revocation, &c.Issuers[0])
		}
	}
	cases := []struct {
		name   string
		mutate func(*Configuration)
		want   string // "" means valid
	}{
		{"watch with onFailure", watch(func(*Revocation, *Issuer) {}), ""},
		{"watch with never and reject", watch(func(r *Revocation, is *Issuer) {
			is.Upstream.Policy, r.NotSynced = UpstreamNever, RevocationFallbackReject
		}), ""},
		{"watch with never and the default upstream fallback", watch(func(_ *Revocation, is *Issuer) { is.Upstream.Policy = UpstreamNever }),
			"issuers[0].revocation.notSynced: Invalid value: \"upstream\": upstream (the default) falls back to the cluster's TokenReview API, which upstream policy never rules out: set notSynced: reject, or policy onFailure"},
		{"watch with always", watch(func(_ *Revocation, is *Issuer) { is.Upstream.Policy = UpstreamAlways }),
			"issuers[0].upstream.policy: Invalid value: \"always\": always has the cluster confirm every token"},
		{"watch with whenBound", watch(func(_ *Revocation, is *Issuer) { is.Upstream.Policy = UpstreamWhenBound }),
			"issuers[0].upstream.policy: Invalid value: \"whenBound\": with revocation the watch checks bound tokens without asking the cluster: use onFailure (or never, with revocation.notSynced reject)"},
		{"watch without upstream", watch(func(_ *Revocation, is *Issuer) { is.Upstream = nil }),
			"issuers[0].upstream: Required value: revocation watches the issuing cluster"},
		{"no mode", watch(func(r *Revocation, _ *Issuer) { r.Mode = "" }),
			"issuers[0].revocation.mode: Required value: watch, the only mode"},
		{"unknown mode", watch(func(r *Revocation, _ *Issuer) { r.Mode = "poll" }),
			`issuers[0].revocation.mode: Unsupported value: "poll"`},
		{"unknown fallback", watch(func(r *Revocation, _ *Issuer) { r.NotSynced = "accept" }),
			`issuers[0].revocation.notSynced: Unsupported value: "accept"`},
		{"negative outage", watch(func(r *Revocation, _ *Issuer) { r.MaxWatchOutage.Duration = -time.Second }),
			"issuers[0].revocation.maxWatchOutage: Invalid value"},
		{"OIDC issuer", func(c *Configuration) { c.Issuers[1].Revocation = &Revocation{Mode: RevocationWatch} },
			"issuers[1].revocation: Forbidden: only for type ServiceAccount"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := LoadFile(filepath.Join("testdata", "issuer-minimal.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			tc.mutate(cfg)
			SetDefaults(cfg)
			got := Validate(cfg).ToAggregate()
			switch {
			case tc.want == "" && got != nil:
				t.Fatalf("got %v, want valid", got)
			case tc.want != "" && (got == nil || !strings.Contains(got.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", got, tc.want)
			}
		})
	}
}

func TestRevocationDefaults(t *testing.T) {
	cfg := &Configuration{Issuers: []Issuer{{Name: "hub", URL: "https://hub", Revocation: &Revocation{Mode: RevocationWatch}}}}
	SetDefaults(cfg)
	r := cfg.Issuers[0].Revocation
	if r.NotSynced != RevocationFallbackUpstream || r.MaxWatchOutage.Duration != DefaultMaxWatchOutage || r.Secrets {
		t.Fatalf("got %+v, want notSynced upstream, maxWatchOutage %s, no secrets", r, DefaultMaxWatchOutage)
	}
}
