package authn

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn/keyset"
	"github.com/tokenfed/tokenfed/pkg/authn/route"
)

// edgeState is how edge, a second ServiceAccount issuer with its own URL,
// holds its keys. Both claim the legacy iss, which routing tells apart by
// kid.
type edgeState int

const (
	edgeStale       edgeState = iota // loaded edgeKid once, now past maxStaleness
	edgeNeverLoaded                  // its JWKS has never answered
)

// unloadedCases: hub fetches its keys and has an upstream (onFailure);
// edge's keys are not loaded. edge blocks only the kids it may own: those
// it served, its keyIDs, or any kid when it never loaded keys.
var unloadedCases = []struct {
	name       string
	edge       edgeState
	edgeKeyIDs []string
	hubAlso    []string // kids hub's document lists besides hub's own, as copies of edge's key
	kid        string   // of the legacy token, signed with hub's key
	wantErr    error    // keyset.ErrNotReady: routed to edge, which cannot verify it
	wantHub    int64    // reviews sent to hub's cluster
}{
	{name: "edge stale: hub's legacy token goes to hub", edge: edgeStale, kid: knownKid, wantHub: 1},
	{name: "edge stale: hub listing a kid edge served decides nothing", edge: edgeStale, hubAlso: []string{edgeKid}, kid: edgeKid,
		wantErr: route.ErrKeysNotLoaded},
	{name: "edge stale: a kid in edge's keyIDs goes to edge, though hub lists it", edge: edgeStale, edgeKeyIDs: []string{"edge-next"},
		hubAlso: []string{"edge-next"}, kid: "edge-next", wantErr: keyset.ErrNotReady},
	{name: "edge never loaded: it may own hub's kid", edge: edgeNeverLoaded, kid: knownKid, wantErr: route.ErrKeysNotLoaded},
	{name: "edge never loaded, with keyIDs: it may own hub's kid still", edge: edgeNeverLoaded, edgeKeyIDs: []string{"edge-next"},
		kid: knownKid, wantErr: route.ErrKeysNotLoaded},
}

func TestLegacyTokensWhileAnotherIssuerIsUnloaded(t *testing.T) {
	trusted, stray := testKeys()
	for _, tc := range unloadedCases {
		t.Run(tc.name, func(t *testing.T) {
			hubUp := newFakeUpstream(t, answerSA)
			cfg := hubConfig(t, hubUp, onFailure)
			hubDoc := []jose.JSONWebKey{jwk(trusted, knownKid)}
			for _, kid := range tc.hubAlso {
				hubDoc = append(hubDoc, jwk(trusted, kid))
			}
			newKeyServer(t, hubDoc...).serve(t, &cfg.Issuers[0])
			cfg.Issuers = append(cfg.Issuers, v1alpha1.Issuer{Name: "edge", URL: "https://edge.test", KeyIDs: tc.edgeKeyIDs})
			edge := newKeyServer(t, jwk(stray, edgeKid))
			edge.serve(t, &cfg.Issuers[1])
			// Any load is past maxStaleness at once.
			cfg.Issuers[1].Fetch.MaxStaleness = metav1.Duration{Duration: time.Nanosecond}
			if tc.edge == edgeNeverLoaded {
				edge.fail()
			}
			c := newChain(t, cfg)
			ctx := authenticator.WithAudiences(context.Background(), authenticator.Audiences{issuerURL})
			c.issuers["hub"].keys.RefetchForKid(ctx)
			c.issuers["edge"].keys.RefetchForKid(ctx) // claims edge's unknown-kid cooldown
			edgeFetches := edge.fetches.Load()

			for range 2 {
				_, ok, err := c.AuthenticateToken(ctx, sign(t, trusted, tc.kid, legacyClaims()))

				if ok != (tc.wantErr == nil) || !errors.Is(err, tc.wantErr) {
					t.Fatalf("got ok=%v err=%v, want err %v", ok, err, tc.wantErr)
				}
				if err != nil && strings.Contains(err.Error(), "edge") {
					t.Errorf("got error %q, want one naming no other issuer", err)
				}
			}
			if n := hubUp.hits.Load(); n != tc.wantHub {
				t.Errorf("got %d reviews sent to hub's cluster, want %d", n, tc.wantHub)
			}
			// Within edge's cooldown, blocked reviews start no fetch of edge.
			if n := edge.fetches.Load(); n != edgeFetches {
				t.Errorf("got %d more fetches of edge's keys, want none within its cooldown", n-edgeFetches)
			}
		})
	}
}
