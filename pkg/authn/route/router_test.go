package route

import (
	"github.com/tokenfed/tokenfed/pkg/authn/jws"

	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeKeys is one issuer's keys as routing sees them: kids the operator
// assigned, kids its fetched document lists, and what a refetch publishes.
type fakeKeys struct {
	assigned, fetched []string
	// unloaded: no keys are loaded. The issuer may then hold its assigned
	// kids and those it served before, or any kid when neverLoaded.
	unloaded, neverLoaded bool
	served                []string
	// rotated is published by the first refetch, which also loads the keys
	// unless stillDown.
	rotated   []string
	stillDown bool

	mu        sync.Mutex
	refetches int
}

func (f *fakeKeys) Claim(kid string) Claim {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case slices.Contains(f.assigned, kid):
		return Assigned
	case !f.unloaded && slices.Contains(f.fetched, kid):
		return Fetched
	}
	return NoClaim
}

func (f *fakeKeys) MayHold(kid string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.unloaded && (f.neverLoaded || slices.Contains(f.served, kid) || slices.Contains(f.assigned, kid))
}

func (f *fakeKeys) Refetch(context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refetches++
	f.fetched = append(f.fetched, f.rotated...)
	f.rotated = nil
	f.unloaded = f.unloaded && f.stillDown
	f.neverLoaded = f.neverLoaded && f.stillDown
}

func (f *fakeKeys) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refetches
}

const (
	shared  = "https://issuer.example"
	kubeadm = "https://kubernetes.default.svc.cluster.local"
)

// routeCases: hub and edge share an iss; which of them a kid routes to.
// Each case builds its own issuers, since refetches change them.
var routeCases = []struct {
	name string
	iss  string
	// hub and edge claim shared, kubeadm and the legacy iss, unless
	// hubWithoutEdge: then hub alone claims iss.
	hub, edge      *fakeKeys
	hubWithoutEdge bool
	kid            string
	want           string
	wantErr        error
	wantRefetches  [2]int // of hub's keys, of edge's
}{
	{name: "hub's fetched kid", iss: shared, hub: &fakeKeys{fetched: []string{"h"}}, edge: &fakeKeys{fetched: []string{"e"}}, kid: "h", want: "hub"},
	{name: "edge's assigned kid", iss: shared, hub: &fakeKeys{fetched: []string{"h"}}, edge: &fakeKeys{assigned: []string{"e"}}, kid: "e", want: "edge"},
	{name: "no kid", iss: shared, hub: &fakeKeys{}, edge: &fakeKeys{}, wantErr: ErrAmbiguous},

	// Ownership: an assigned kid decides; a fetched one only when it is
	// the only claim and no issuer without loaded keys may hold it.
	{name: "kid assigned to hub, also in edge's document", iss: shared,
		hub: &fakeKeys{assigned: []string{"h"}}, edge: &fakeKeys{fetched: []string{"h", "e"}}, kid: "h", want: "hub"},
	{name: "kid in both documents", iss: shared,
		hub: &fakeKeys{fetched: []string{"h"}}, edge: &fakeKeys{fetched: []string{"h"}}, kid: "h", wantErr: ErrAmbiguous},
	{name: "kid assigned to both", iss: shared,
		hub: &fakeKeys{assigned: []string{"h"}}, edge: &fakeKeys{assigned: []string{"h"}}, kid: "h", wantErr: ErrAmbiguous},

	// hub never loaded keys: it may own any kid, so no fetched document
	// decides; only hub is refetched.
	{name: "hub never loaded: edge's document listing hub's kid decides nothing", iss: shared,
		hub: &fakeKeys{unloaded: true, neverLoaded: true, stillDown: true}, edge: &fakeKeys{fetched: []string{"h", "e"}}, kid: "h",
		wantErr: ErrKeysNotLoaded, wantRefetches: [2]int{1, 0}},
	{name: "hub never loaded: not even edge's own kid", iss: shared,
		hub: &fakeKeys{unloaded: true, neverLoaded: true, stillDown: true}, edge: &fakeKeys{fetched: []string{"e"}}, kid: "e",
		wantErr: ErrKeysNotLoaded, wantRefetches: [2]int{1, 0}},
	{name: "hub never loaded: edge's assigned kid still routes", iss: shared,
		hub: &fakeKeys{unloaded: true, neverLoaded: true}, edge: &fakeKeys{assigned: []string{"e"}}, kid: "e", want: "edge"},
	{name: "hub's keys load on the refetch", iss: shared,
		hub: &fakeKeys{unloaded: true, neverLoaded: true, fetched: []string{"h"}}, edge: &fakeKeys{fetched: []string{"e"}}, kid: "h",
		want: "hub", wantRefetches: [2]int{1, 0}},

	// hub's keys are stale past maxStaleness: it blocks the kids it served
	// and its keyIDs, not the kids only edge ever showed.
	{name: "hub stale: edge's own kid routes", iss: shared,
		hub: &fakeKeys{unloaded: true, served: []string{"h"}, stillDown: true}, edge: &fakeKeys{fetched: []string{"e"}}, kid: "e",
		want: "edge"},
	{name: "hub stale: edge's copy of a kid hub served decides nothing", iss: shared,
		hub: &fakeKeys{unloaded: true, served: []string{"h-old", "h"}, stillDown: true}, edge: &fakeKeys{fetched: []string{"h-old", "e"}}, kid: "h-old",
		wantErr: ErrKeysNotLoaded, wantRefetches: [2]int{1, 0}},
	{name: "hub stale: a kid in hub's keyIDs is hub's", iss: shared,
		hub: &fakeKeys{unloaded: true, assigned: []string{"h-next"}, stillDown: true}, edge: &fakeKeys{fetched: []string{"h-next"}}, kid: "h-next",
		want: "hub"},
	{name: "hub stale: a kid nobody holds refetches both", iss: shared,
		hub: &fakeKeys{unloaded: true, served: []string{"h"}, stillDown: true}, edge: &fakeKeys{fetched: []string{"e"}}, kid: "x",
		wantErr: ErrNoKeyMatch, wantRefetches: [2]int{1, 1}},
	{name: "legacy iss: hub's kid while edge is stale", iss: jws.LegacyIssuer,
		hub: &fakeKeys{fetched: []string{"h"}}, edge: &fakeKeys{unloaded: true, served: []string{"e"}, stillDown: true}, kid: "h",
		want: "hub"},
	{name: "legacy iss: hub's kid while edge never loaded", iss: jws.LegacyIssuer,
		hub: &fakeKeys{fetched: []string{"h"}}, edge: &fakeKeys{unloaded: true, neverLoaded: true, stillDown: true}, kid: "h",
		wantErr: ErrKeysNotLoaded, wantRefetches: [2]int{0, 1}},

	// Rotation: a kid nobody holds refetches every sharer once.
	{name: "hub rotated", iss: shared,
		hub: &fakeKeys{fetched: []string{"h"}, rotated: []string{"h2"}}, edge: &fakeKeys{fetched: []string{"e"}}, kid: "h2",
		want: "hub", wantRefetches: [2]int{1, 1}},
	{name: "a kid nobody publishes", iss: shared,
		hub: &fakeKeys{fetched: []string{"h"}}, edge: &fakeKeys{fetched: []string{"e"}}, kid: "x",
		wantErr: ErrNoKeyMatch, wantRefetches: [2]int{1, 1}},

	// An iss shared by nature is routed by kid even when one issuer claims it.
	{name: "kubeadm's default iss, hub's kid", iss: kubeadm, hubWithoutEdge: true,
		hub: &fakeKeys{fetched: []string{"h"}}, kid: "h", want: "hub"},
	{name: "kubeadm's default iss, another cluster's kid", iss: kubeadm, hubWithoutEdge: true,
		hub: &fakeKeys{assigned: []string{"h"}}, kid: "other", wantErr: ErrNoKeyMatch, wantRefetches: [2]int{1, 0}},
	{name: "kubeadm's default iss, no kid", iss: kubeadm, hubWithoutEdge: true, hub: &fakeKeys{}, wantErr: ErrAmbiguous},
	{name: "legacy iss, another cluster's kid", iss: jws.LegacyIssuer, hubWithoutEdge: true,
		hub: &fakeKeys{assigned: []string{"h"}}, kid: "other", wantErr: ErrNoKeyMatch, wantRefetches: [2]int{1, 0}},
	{name: "legacy iss, hub never loaded", iss: jws.LegacyIssuer, hubWithoutEdge: true,
		hub: &fakeKeys{unloaded: true, neverLoaded: true, stillDown: true}, kid: "h", wantErr: ErrKeysNotLoaded, wantRefetches: [2]int{1, 0}},
	{name: "legacy iss, hub stale: its old kid", iss: jws.LegacyIssuer, hubWithoutEdge: true,
		hub: &fakeKeys{unloaded: true, served: []string{"h"}, stillDown: true}, kid: "h", wantErr: ErrKeysNotLoaded, wantRefetches: [2]int{1, 0}},
	{name: "legacy iss, hub stale: another cluster's kid", iss: jws.LegacyIssuer, hubWithoutEdge: true,
		hub: &fakeKeys{unloaded: true, served: []string{"h"}, stillDown: true}, kid: "other", wantErr: ErrNoKeyMatch, wantRefetches: [2]int{1, 0}},

	// An iss one issuer claims alone is that issuer's, whatever the kid:
	// the issuer's key set settles an unknown kid.
	{name: "unshared iss ignores the kid", iss: shared, hubWithoutEdge: true, hub: &fakeKeys{}, kid: "whatever", want: "hub"},
	{name: "unshared iss without kid", iss: shared, hubWithoutEdge: true, hub: &fakeKeys{}, want: "hub"},
	{name: "unknown iss", iss: "https://evil.example", hub: &fakeKeys{assigned: []string{"h"}}, edge: &fakeKeys{}, kid: "h", wantErr: ErrUnknownIssuer},
	{name: "iss differs by a slash", iss: shared + "/", hub: &fakeKeys{}, edge: &fakeKeys{}, kid: "h", wantErr: ErrUnknownIssuer},
}

func TestRoute(t *testing.T) {
	for _, tc := range routeCases {
		t.Run(tc.name, func(t *testing.T) {
			candidates := []Candidate{{Name: "hub", IssuerURLs: []string{shared, kubeadm, jws.LegacyIssuer}, Keys: tc.hub}}
			if !tc.hubWithoutEdge {
				candidates = append(candidates, Candidate{Name: "edge", IssuerURLs: []string{shared, kubeadm, jws.LegacyIssuer}, Keys: tc.edge})
			} else {
				candidates[0].IssuerURLs = []string{tc.iss}
			}
			r, err := NewRouter(candidates)
			if err != nil {
				t.Fatal(err)
			}

			got, err := r.Route(context.Background(), jws.Header{Issuer: tc.iss, Kid: tc.kid})

			if got != tc.want || !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("got (%q, %v), want (%q, %v)", got, err, tc.want, tc.wantErr)
			}
			// The error reaches the caller: it names no issuer.
			if err != nil && (strings.Contains(err.Error(), "hub") || strings.Contains(err.Error(), "edge")) {
				t.Errorf("got error %q, want one naming no issuer", err)
			}
			for i, k := range []*fakeKeys{tc.hub, tc.edge} {
				if k != nil && k.count() != tc.wantRefetches[i] {
					t.Errorf("got %d refetches of %s's keys, want %d", k.count(), [...]string{"hub", "edge"}[i], tc.wantRefetches[i])
				}
			}
		})
	}
}

func TestRouteOtherIssuers(t *testing.T) {
	r, err := NewRouter([]Candidate{
		{Name: "idp", IssuerURLs: []string{"https://idp.example", "https://idp.example"}},
		{Name: "google", IssuerURLs: []string{"https://accounts.google.com"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		h       jws.Header
		want    string
		wantErr error
	}{
		{jws.Header{Issuer: "https://idp.example"}, "idp", nil},
		{jws.Header{Issuer: "accounts.google.com"}, "google", nil},
		{jws.Header{}, "", ErrUnknownIssuer},
	} {
		got, err := r.Route(context.Background(), tc.h)
		if got != tc.want || !errors.Is(err, tc.wantErr) {
			t.Errorf("iss %q: got (%q, %v), want (%q, %v)", tc.h.Issuer, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestSharedByNature(t *testing.T) {
	for iss, want := range map[string]bool{
		jws.LegacyIssuer: true,
		"https://kubernetes.default.svc.cluster.local":  true,
		"https://kubernetes.default.svc.corp.internal":  true,
		"https://kubernetes.default.svc":                true,
		"https://Kubernetes.Default.Svc.cluster.local.": true,
		"https://kubernetes.default":                    true,
		"https://kubernetes":                            true,
		"https://localhost:6443":                        false,
		"https://127.0.0.1:6443":                        false,
		"https://hub.example.com":                       false,
		"https://kubernetes.example.com":                false,
		"https://kubernetes.default.svc.evil.example":   true, // any cluster domain
		"https://10.96.0.1":                             false,
		"https://storage.googleapis.com/hub-oidc":       false,
	} {
		if got := sharedByNature(iss); got != want {
			t.Errorf("sharedByNature(%q): got %v, want %v", iss, got, want)
		}
	}
}

func TestNewRouterValidation(t *testing.T) {
	tests := []struct {
		name       string
		candidates []Candidate
		wantErr    bool
	}{
		{"empty list", nil, false},
		{"empty name", []Candidate{{IssuerURLs: []string{"https://a"}}}, true},
		{"repeated name", []Candidate{{Name: "a", IssuerURLs: []string{"https://a"}}, {Name: "a", IssuerURLs: []string{"https://b"}}}, true},
		{"no issuer URL", []Candidate{{Name: "a"}}, true},
		{"empty issuer URL", []Candidate{{Name: "a", IssuerURLs: []string{""}}}, true},
		{"shared iss without keys", []Candidate{
			{Name: "a", IssuerURLs: []string{"https://x"}, Keys: &fakeKeys{}},
			{Name: "b", IssuerURLs: []string{"https://x"}},
		}, true},
		{"legacy iss without keys", []Candidate{{Name: "a", IssuerURLs: []string{jws.LegacyIssuer}}}, true},
		{"kubeadm's default iss without keys", []Candidate{{Name: "a", IssuerURLs: []string{kubeadm}}}, true},
		{"unshared iss without keys", []Candidate{{Name: "a", IssuerURLs: []string{"https://x"}}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewRouter(tc.candidates)
			if (err != nil) != tc.wantErr {
				t.Fatalf("got error %v, want error %v", err, tc.wantErr)
			}
		})
	}
}
