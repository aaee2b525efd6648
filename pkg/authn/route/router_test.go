package route

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
)

// fakeKeys is one issuer's keys as routing sees them: kids the operator
// assigned, kids its fetched document lists, and what a refetch publishes.
type fakeKeys struct {
	assigned, fetched []string
	unloaded          bool
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

func (f *fakeKeys) Loaded() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.unloaded
}

func (f *fakeKeys) Refetch(context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refetches++
	f.fetched = append(f.fetched, f.rotated...)
	f.rotated = nil
	f.unloaded = f.unloaded && f.stillDown
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
	wantRefetches  int // of each issuer
}{
	{name: "hub's fetched kid", iss: shared, hub: &fakeKeys{fetched: []string{"h"}}, edge: &fakeKeys{fetched: []string{"e"}}, kid: "h", want: "hub"},
	{name: "edge's assigned kid", iss: shared, hub: &fakeKeys{fetched: []string{"h"}}, edge: &fakeKeys{assigned: []string{"e"}}, kid: "e", want: "edge"},
	{name: "no kid", iss: shared, hub: &fakeKeys{}, edge: &fakeKeys{}, wantErr: ErrAmbiguous},

	// Ownership: an assigned kid decides; a fetched one only when it is
	// the only claim and every issuer's keys are known.
	{name: "kid assigned to hub, also in edge's document", iss: shared,
		hub: &fakeKeys{assigned: []string{"h"}}, edge: &fakeKeys{fetched: []string{"h", "e"}}, kid: "h", want: "hub"},
	{name: "kid in both documents", iss: shared,
		hub: &fakeKeys{fetched: []string{"h"}}, edge: &fakeKeys{fetched: []string{"h"}}, kid: "h", wantErr: ErrAmbiguous},
	{name: "kid assigned to both", iss: shared,
		hub: &fakeKeys{assigned: []string{"h"}}, edge: &fakeKeys{assigned: []string{"h"}}, kid: "h", wantErr: ErrAmbiguous},
	{name: "hub's keys not loaded: edge's document listing hub's kid decides nothing", iss: shared,
		hub: &fakeKeys{unloaded: true, stillDown: true}, edge: &fakeKeys{fetched: []string{"h", "e"}}, kid: "h",
		wantErr: ErrKeysNotLoaded, wantRefetches: 1},
	{name: "hub's keys not loaded: not even edge's own kid", iss: shared,
		hub: &fakeKeys{unloaded: true, stillDown: true}, edge: &fakeKeys{fetched: []string{"e"}}, kid: "e",
		wantErr: ErrKeysNotLoaded, wantRefetches: 1},
	{name: "hub's keys not loaded: edge's assigned kid still routes", iss: shared,
		hub: &fakeKeys{unloaded: true}, edge: &fakeKeys{assigned: []string{"e"}}, kid: "e", want: "edge"},
	{name: "hub's keys load on the refetch", iss: shared,
		hub: &fakeKeys{unloaded: true, fetched: []string{"h"}}, edge: &fakeKeys{fetched: []string{"e"}}, kid: "h",
		want: "hub", wantRefetches: 1},

	// Rotation: a kid nobody holds refetches every sharer once.
	{name: "hub rotated", iss: shared,
		hub: &fakeKeys{fetched: []string{"h"}, rotated: []string{"h2"}}, edge: &fakeKeys{fetched: []string{"e"}}, kid: "h2",
		want: "hub", wantRefetches: 1},
	{name: "a kid nobody publishes", iss: shared,
		hub: &fakeKeys{fetched: []string{"h"}}, edge: &fakeKeys{fetched: []string{"e"}}, kid: "x",
		wantErr: ErrNoKeyMatch, wantRefetches: 1},

	// An iss shared by nature is routed by kid even when one issuer claims it.
	{name: "kubeadm's default iss, hub's kid", iss: kubeadm, hubWithoutEdge: true,
		hub: &fakeKeys{fetched: []string{"h"}}, kid: "h", want: "hub"},
	{name: "kubeadm's default iss, another cluster's kid", iss: kubeadm, hubWithoutEdge: true,
		hub: &fakeKeys{assigned: []string{"h"}}, kid: "other", wantErr: ErrNoKeyMatch, wantRefetches: 1},
	{name: "kubeadm's default iss, no kid", iss: kubeadm, hubWithoutEdge: true, hub: &fakeKeys{}, wantErr: ErrAmbiguous},
	{name: "legacy iss, another cluster's kid", iss: legacyIssuer, hubWithoutEdge: true,
		hub: &fakeKeys{assigned: []string{"h"}}, kid: "other", wantErr: ErrNoKeyMatch, wantRefetches: 1},
	{name: "legacy iss, hub's keys not loaded", iss: legacyIssuer, hubWithoutEdge: true,
		hub: &fakeKeys{unloaded: true, stillDown: true}, kid: "h", wantErr: ErrKeysNotLoaded, wantRefetches: 1},

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
			candidates := []Candidate{{Name: "hub", IssuerURLs: []string{shared, kubeadm, legacyIssuer}, Keys: tc.hub}}
			if !tc.hubWithoutEdge {
				candidates = append(candidates, Candidate{Name: "edge", IssuerURLs: []string{shared, kubeadm, legacyIssuer}, Keys: tc.edge})
			} else {
				candidates[0].IssuerURLs = []string{tc.iss}
			}
			r, err := NewRouter(candidates)
			if err != nil {
				t.Fatal(err)
			}

			got, err := r.Route(context.Background(), Header{Issuer: tc.iss, Kid: tc.kid})

			if got != tc.want || !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("got (%q, %v), want (%q, %v)", got, err, tc.want, tc.wantErr)
			}
			for name, k := range map[string]*fakeKeys{"hub": tc.hub, "edge": tc.edge} {
				if k != nil && k.count() != tc.wantRefetches {
					t.Errorf("got %d refetches of %s's keys, want %d", k.count(), name, tc.wantRefetches)
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
		h       Header
		want    string
		wantErr error
	}{
		{Header{Issuer: "https://idp.example"}, "idp", nil},
		{Header{Issuer: "accounts.google.com"}, "google", nil},
		{Header{}, "", ErrUnknownIssuer},
	} {
		got, err := r.Route(context.Background(), tc.h)
		if got != tc.want || !errors.Is(err, tc.wantErr) {
			t.Errorf("iss %q: got (%q, %v), want (%q, %v)", tc.h.Issuer, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestSharedByNature(t *testing.T) {
	for iss, want := range map[string]bool{
		legacyIssuer: true,
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
		{"legacy iss without keys", []Candidate{{Name: "a", IssuerURLs: []string{legacyIssuer}}}, true},
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
