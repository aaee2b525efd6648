package route

import (
	"errors"
	"testing"
)

// kids returns a HasKid func for a fixed key set.
func kids(ids ...string) func(string) bool {
	return func(kid string) bool {
		for _, id := range ids {
			if id == kid {
				return true
			}
		}
		return false
	}
}

func TestRoute(t *testing.T) {
	const shared = "https://kubernetes.default.svc.cluster.local"
	r, err := NewRouter([]Candidate{
		{Name: "idp", IssuerURLs: []string{"https://idp.example", "https://idp.example"}},
		{Name: "google", IssuerURLs: []string{"https://accounts.google.com"}},
		{Name: "hub", IssuerURLs: []string{shared, "kubernetes/serviceaccount"}, HasKid: kids("hub-1", "both")},
		{Name: "edge", IssuerURLs: []string{shared, "kubernetes/serviceaccount"}, HasKid: kids("edge-1", "both")},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		h    Header
		want string
		err  error
	}{
		{"single issuer", Header{Issuer: "https://idp.example"}, "idp", nil},
		{"single issuer ignores kid", Header{Issuer: "https://idp.example", Kid: "whatever"}, "idp", nil},
		{"google legacy iss", Header{Issuer: "accounts.google.com"}, "google", nil},
		{"shared iss by kid", Header{Issuer: shared, Kid: "edge-1"}, "edge", nil},
		{"legacy iss by kid", Header{Issuer: "kubernetes/serviceaccount", Kid: "hub-1"}, "hub", nil},
		{"shared iss without kid", Header{Issuer: shared}, "", ErrAmbiguous},
		{"shared iss, kid in both", Header{Issuer: shared, Kid: "both"}, "", ErrAmbiguous},
		{"shared iss, unknown kid", Header{Issuer: shared, Kid: "nope"}, "", ErrNoKeyMatch},
		{"unknown iss", Header{Issuer: "https://evil.example", Kid: "hub-1"}, "", ErrUnknownIssuer},
		{"no iss", Header{}, "", ErrUnknownIssuer},
		{"iss differs by a slash", Header{Issuer: "https://idp.example/"}, "", ErrUnknownIssuer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.Route(tc.h)
			if got != tc.want || !errors.Is(err, tc.err) {
				t.Fatalf("got (%q, %v), want (%q, %v)", got, err, tc.want, tc.err)
			}
		})
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
		{"shared iss without HasKid", []Candidate{
			{Name: "a", IssuerURLs: []string{"https://x"}, HasKid: kids()},
			{Name: "b", IssuerURLs: []string{"https://x"}},
		}, true},
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

// TestLegacyIssuerNeedsKidEvenAlone: one issuer claiming the shared legacy
// iss still only gets legacy tokens whose kid it holds.
func TestLegacyIssuerNeedsKidEvenAlone(t *testing.T) {
	r, err := NewRouter([]Candidate{{Name: "hub", IssuerURLs: []string{"https://hub", legacyIssuer}, HasKid: func(kid string) bool { return kid == "hub-key" }}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		kid     string
		want    string
		wantErr error
	}{
		{"hub-key", "hub", nil},
		{"other-cluster-key", "", ErrNoKeyMatch},
		{"", "", ErrAmbiguous},
	}
	for _, tc := range cases {
		got, err := r.Route(Header{Issuer: legacyIssuer, Kid: tc.kid})
		if got != tc.want || !errors.Is(err, tc.wantErr) {
			t.Errorf("kid %q: got %q, %v; want %q, %v", tc.kid, got, err, tc.want, tc.wantErr)
		}
	}
	if _, err := NewRouter([]Candidate{{Name: "x", IssuerURLs: []string{legacyIssuer}}}); err == nil {
		t.Errorf("got no error for a legacy issuer without HasKid, want one")
	}
}
