package authn

import (
	"context"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
)

// remoteHub is hubConfig with its keys fetched from jwks.
func remoteHub(t *testing.T, jwks *jwksServer) *v1alpha1.Configuration {
	t.Helper()
	cfg := hubConfig(t, nil, "")
	cfg.Issuers[0].StaticKeys, cfg.Issuers[0].JWKSURL = nil, jwks.URL
	cfg.Issuers[0].Fetch.CAFile = writeFile(t, "ca.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: jwks.Certificate().Raw}))
	return cfg
}

// edgeIssuer is a second issuer with inline keys of its own.
func edgeIssuer(t *testing.T) v1alpha1.Issuer {
	return v1alpha1.Issuer{Name: "edge", URL: "https://edge.test", StaticKeys: &v1alpha1.StaticKeys{JWKS: trustedJWKS(t)}}
}

func defaulted(t *testing.T, cfg *v1alpha1.Configuration) *v1alpha1.Configuration {
	t.Helper()
	v1alpha1.SetDefaults(cfg)
	if errs := v1alpha1.Validate(cfg); len(errs) > 0 {
		t.Fatalf("invalid test config: %v", errs.ToAggregate())
	}
	return cfg
}

// reload builds c's successor for next, as a hot reload does: runs it,
// waits for its added issuers' keys, and retires c.
func reload(t *testing.T, ctx context.Context, c *Chain, next *v1alpha1.Configuration) *Chain {
	t.Helper()
	succ, err := c.Successor(ctx, defaulted(t, next))
	if err != nil {
		t.Fatal(err)
	}
	succ.Run(ctx)
	if err := succ.AwaitAddedKeys(ctx); err != nil {
		t.Fatal(err)
	}
	c.Retire(succ)
	return succ
}

func awaitKeys(t *testing.T, c *Chain) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, is := range c.issuers {
		for !is.keys.Attempted() {
			if ctx.Err() != nil {
				t.Fatalf("issuer %s never tried to load keys", is.name)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// A reload keeps an unchanged issuer as it is: same key set, no fetch, its
// tokens verified from the first review; an added issuer is loaded before
// AwaitAddedKeys returns.
func TestSuccessorCarriesUnchangedIssuers(t *testing.T) {
	jwks := newJWKSServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newChain(t, remoteHub(t, jwks))
	c.Run(ctx)
	awaitKeys(t, c)
	fetches := len(jwks.authorizations())

	next := remoteHub(t, jwks)
	next.Issuers[0].Fetch.CAFile = c.issuers["hub"].cfg.Fetch.CAFile // the same file, as an unchanged ConfigMap has
	next.Issuers = append(next.Issuers, edgeIssuer(t))
	succ := reload(t, ctx, c, next)

	if succ.issuers["hub"] != c.issuers["hub"] {
		t.Errorf("got a new issuer hub, want the unchanged one carried over")
	}
	if len(succ.added) != 1 || succ.added[0].name != "edge" {
		t.Errorf("got added %v, want only edge", succ.added)
	}
	if got := len(jwks.authorizations()); got != fetches {
		t.Errorf("got %d key fetches after the reload, want %d: an unchanged issuer must not refetch", got, fetches)
	}
	if succ.issuers["hub"].stopped {
		t.Errorf("Retire stopped the carried-over issuer")
	}
	if _, ok, err := succ.AuthenticateToken(ctx, plainToken.mint(t)); !ok || err != nil {
		t.Errorf("hub token after the reload: got ok=%v err=%v, want authenticated", ok, err)
	}
}

// A changed issuer is built anew and its answers follow the new
// configuration at once: the caches start empty, and the old issuer's key
// set is stopped.
func TestSuccessorReplacesChangedIssuer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newChain(t, hubConfig(t, nil, ""))
	c.Run(ctx)
	token := plainToken.mint(t)
	before, _, err := c.AuthenticateToken(ctx, token)
	if err != nil {
		t.Fatal(err)
	}

	next := hubConfig(t, nil, "")
	prefix := "renamed:"
	next.Issuers[0].Mapping.Prefix = &prefix
	succ := reload(t, ctx, c, next)

	after, ok, err := succ.AuthenticateToken(ctx, token)
	if !ok || err != nil {
		t.Fatalf("got ok=%v err=%v, want authenticated", ok, err)
	}
	if !strings.HasPrefix(after.User.GetName(), prefix) || strings.HasPrefix(before.User.GetName(), prefix) {
		t.Errorf("got user %q before and %q after the reload, want only the second with prefix %q", before.User.GetName(), after.User.GetName(), prefix)
	}
	if !c.issuers["hub"].stopped || succ.issuers["hub"].stopped {
		t.Errorf("got old issuer stopped=%v, new stopped=%v; want the old one stopped only", c.issuers["hub"].stopped, succ.issuers["hub"].stopped)
	}
}

// A removed issuer's tokens are refused by the successor and its key set
// is stopped.
func TestSuccessorDropsRemovedIssuer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := hubConfig(t, nil, "")
	cfg.Issuers = append(cfg.Issuers, edgeIssuer(t))
	c := newChain(t, cfg)
	c.Run(ctx)

	succ := reload(t, ctx, c, hubConfig(t, nil, ""))

	edgeClaims := boundClaims(time.Now())
	edgeClaims["iss"], edgeClaims["aud"] = "https://edge.test", []string{"https://edge.test"}
	trusted, _ := testKeys()
	if _, ok, err := succ.AuthenticateToken(ctx, sign(t, trusted, knownKid, edgeClaims)); ok || err == nil {
		t.Errorf("removed issuer's token: got ok=%v err=%v, want refused", ok, err)
	}
	if !c.issuers["edge"].stopped {
		t.Errorf("the removed issuer's key set was not stopped")
	}
}

// readiness.issuers gates on the issuers tokenfed started with, once their
// keys first load; issuers a reload adds are reported but never gate.
func TestIssuerReadinessGate(t *testing.T) {
	down := newJWKSServer(t)
	down.Close() // an issuer whose keys never load: a mistyped URL
	for _, tc := range []struct {
		mode       v1alpha1.IssuerReadiness
		withBroken bool
		wantGate   bool
		wantErr    string
	}{
		{mode: v1alpha1.IssuerReadinessNone, withBroken: true, wantGate: false},
		{mode: v1alpha1.IssuerReadinessAny, withBroken: true, wantGate: true},
		{mode: v1alpha1.IssuerReadinessAll, withBroken: false, wantGate: true},
		{mode: v1alpha1.IssuerReadinessAll, withBroken: true, wantGate: true, wantErr: "keys never loaded: broken"},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cfg := hubConfig(t, nil, "")
			cfg.Readiness.Issuers = tc.mode
			if tc.withBroken {
				cfg.Issuers = append(cfg.Issuers, brokenIssuer(down.URL))
			}
			c := newChain(t, cfg)
			c.Run(ctx)
			awaitKeys(t, c)

			gate := findCheck(c, "issuer-keys")
			if (gate != nil) != tc.wantGate {
				t.Fatalf("got gating check %v, want one: %v", gate != nil, tc.wantGate)
			}
			if gate == nil {
				return
			}
			if got := errString(gate.Check(nil)); !strings.Contains(got, tc.wantErr) || (got == "") != (tc.wantErr == "") {
				t.Errorf("got %q, want an error containing %q", got, tc.wantErr)
			}
		})
	}
}

func TestIssuerAddedByReloadNeverGates(t *testing.T) {
	down := newJWKSServer(t)
	down.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := hubConfig(t, nil, "")
	cfg.Readiness.Issuers = v1alpha1.IssuerReadinessAll
	c := newChain(t, cfg)
	c.Run(ctx)

	next := hubConfig(t, nil, "")
	next.Readiness.Issuers = v1alpha1.IssuerReadinessAll
	next.Issuers = append(next.Issuers, brokenIssuer(down.URL))
	succ := reload(t, ctx, c, next)

	if err := findCheck(succ, "issuer-keys").Check(nil); err != nil {
		t.Errorf("got %v, want ready: a reload reaches every replica at once and must not unready them all", err)
	}
	if err := findCheck(succ, "issuer-broken").Check(nil); err == nil {
		t.Errorf("the added issuer without keys is reported ready")
	}
}

func brokenIssuer(url string) v1alpha1.Issuer {
	return v1alpha1.Issuer{Name: "broken", URL: "https://broken.test", JWKSURL: url}
}

type namedCheck interface {
	Name() string
	Check(*http.Request) error
}

func findCheck(c *Chain, name string) namedCheck {
	for _, ch := range c.ReadyChecks() {
		if ch.Name() == name {
			return ch
		}
	}
	return nil
}
