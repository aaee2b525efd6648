package keyset

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

// TestPrivateKeyInDocument: a key listed once with its private half and
// once without is dropped both times.
func TestPrivateKeyInDocument(t *testing.T) {
	parts := newJWKParts(t)
	doc := parts.fill(t, `{"keys":[{<RSA>,"kid":"a"},{<RSA_PRIVATE>,"kid":"b"},{<EC256>,"kid":"c"}]}`)
	ks, err := New(Options{IssuerName: "test", StaticJWKS: []byte(doc), Algorithms: []string{"RS256", "ES256"}})
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	want := `2 keys dropped: kid "b": publishes private key material ("d"); kid "a": its private key is published under another entry`
	if got := ks.Status().Dropped; got != want {
		t.Fatalf("got dropped %q, want %q", got, want)
	}
	if _, err := ks.Key(context.Background(), "", "RS256"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("got error %v for a kid-less RS256 token, want %v", err, ErrUnknownKey)
	}
}

// revokeSteps are successive JWKS documents after the issuer first served
// RSA as kid a and EC256 as kid c. Publishing a private key fails the fetch
// (nothing usable is left) yet must take that key out of the last good set.
var revokeSteps = []struct {
	name       string
	body       string
	wantKids   []string
	wantLoaded bool
	wantKeyErr error
}{
	{
		name:       "RSA private key published under another kid",
		body:       `{"keys":[{<RSA_PRIVATE>,"kid":"new"}]}`,
		wantKids:   []string{"c"},
		wantLoaded: true,
		wantKeyErr: ErrUnknownKey,
	},
	{
		name:       "EC private key published: nothing left",
		body:       `{"keys":[{<EC_PRIVATE>,"kid":"c"}]}`,
		wantKeyErr: ErrNotReady,
	},
}

func TestPrivateKeyRevokesLastGood(t *testing.T) {
	parts := newJWKParts(t)
	srv := newJWKSServer(t, []byte(parts.fill(t, `{"keys":[{<RSA>,"kid":"a"},{<EC256>,"kid":"c"}]}`)))
	ks, fc := remoteKeySet(t, srv, nil)
	refreshed := runKeySet(t, ks)
	if err := next(t, refreshed); err != nil {
		t.Fatalf("initial load: got error %v, want nil", err)
	}
	for _, step := range revokeSteps {
		srv.set(http.StatusOK, []byte(parts.fill(t, step.body)), "")
		fc.Step(DefaultMinRefresh)
		if err := next(t, refreshed); !errors.Is(err, errNoUsableKeys) {
			t.Fatalf("%s: got error %v, want %v", step.name, err, errNoUsableKeys)
		}
		for _, kid := range []string{"a", "c", "new"} {
			if got, want := ks.HasKid(kid), kid == "c" && step.wantLoaded; got != want {
				t.Fatalf("%s: got HasKid(%s) %v, want %v", step.name, kid, got, want)
			}
		}
		if st := ks.Status(); st.Loaded != step.wantLoaded || st.LastError == "" {
			t.Fatalf("%s: got %+v, want Loaded %v and LastError set", step.name, st, step.wantLoaded)
		}
		// The unknown kid refetches, and reads the same document again.
		if _, err := ks.Key(context.Background(), "a", "RS256"); !errors.Is(err, step.wantKeyErr) {
			t.Fatalf("%s: got error %v, want %v", step.name, err, step.wantKeyErr)
		}
	}
}
