package keyset

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// TestServedKids: routing asks which kids an issuer whose keys are not
// loaded may own. The set remembers every kid it loaded, past MaxStaleness.
func TestServedKids(t *testing.T) {
	rk, ek := testRSAKey(t), testECKey(t)
	srv := newJWKSServer(t, []byte("down"))
	srv.set(http.StatusServiceUnavailable, []byte("down"), "")
	ks, fc := remoteKeySet(t, srv, func(o *Options) { o.MaxStaleness = time.Hour })
	ctx := context.Background()

	steps := []struct {
		name       string
		publish    []jose.JSONWebKey // nil: the issuer is down
		advance    time.Duration
		wantLoaded bool
		wantEver   bool
		wantServed map[string]bool
	}{
		{name: "never loaded", wantServed: map[string]bool{"a": false}},
		{name: "first document", publish: []jose.JSONWebKey{publicJWK(rk, "a", "")},
			wantLoaded: true, wantEver: true, wantServed: map[string]bool{"a": true, "b": false}},
		{name: "rotated", publish: []jose.JSONWebKey{publicJWK(ek, "b", "")},
			wantLoaded: true, wantEver: true, wantServed: map[string]bool{"a": true, "b": true}},
		{name: "down, still served", advance: time.Minute,
			wantLoaded: true, wantEver: true, wantServed: map[string]bool{"a": true, "b": true}},
		{name: "down past maxStaleness", advance: 2 * time.Hour,
			wantEver: true, wantServed: map[string]bool{"a": true, "b": true, "c": false}},
	}
	for _, s := range steps {
		fc.Step(s.advance)
		if s.publish != nil {
			srv.set(http.StatusOK, jwksDoc(t, s.publish...), "")
		} else {
			srv.set(http.StatusServiceUnavailable, []byte("down"), "")
		}
		_ = ks.refresh(ctx)
		if got := ks.Loaded(); got != s.wantLoaded {
			t.Errorf("%s: got Loaded %v, want %v", s.name, got, s.wantLoaded)
		}
		if got := ks.EverLoaded(); got != s.wantEver {
			t.Errorf("%s: got EverLoaded %v, want %v", s.name, got, s.wantEver)
		}
		for kid, want := range s.wantServed {
			if got := ks.ServedKid(kid); got != want {
				t.Errorf("%s: got ServedKid(%q) %v, want %v", s.name, kid, got, want)
			}
		}
	}
}

// TestServedKidsBound: the newest kids stay, a document's own kids always.
func TestServedKidsBound(t *testing.T) {
	doc := func(prefix string, n int) []Key {
		keys := make([]Key, n)
		for i := range keys {
			keys[i].KeyID = fmt.Sprintf("%s%d", prefix, i)
		}
		return keys
	}
	s := (*servedKids)(nil).withKids(doc("old", maxServedKids))
	s = s.withKids(doc("new", 10))
	if got := len(s.order); got != maxServedKids {
		t.Fatalf("got %d kids, want %d", got, maxServedKids)
	}
	if !s.set["new9"] || !s.set["old0"] || s.set[fmt.Sprintf("old%d", maxServedKids-1)] {
		t.Errorf("got %v, want the new kids and the first old ones", s.order[:12])
	}
	if s = s.withKids(doc("big", maxServedKids+5)); len(s.order) != maxServedKids+5 || s.set["new0"] {
		t.Errorf("got %d kids (new0 kept: %v), want the whole document only", len(s.order), s.set["new0"])
	}
}

// TestRefetchForRouteWhileFailing: routing does not wait on an issuer whose
// last fetch failed recently, but still starts one refetch per cooldown.
func TestRefetchForRouteWhileFailing(t *testing.T) {
	release := make(chan struct{})
	hang := make(chan bool, 1)
	srv := &jwksServer{}
	srv.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv.hits.Add(1)
		select {
		case h := <-hang:
			if h {
				<-release
			}
		default:
		}
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	ks, fc := remoteKeySet(t, srv, nil)
	ctx := context.Background()
	if err := ks.refresh(ctx); err == nil {
		t.Fatal("got nil error from a down issuer, want one")
	}

	hang <- true // the next fetch hangs until the test ends
	returned := make(chan struct{})
	go func() {
		ks.RefetchForRoute(ctx)
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("RefetchForRoute waited on an issuer whose last fetch failed")
	}
	for deadline := time.Now().Add(10 * time.Second); srv.hits.Load() != 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("got %d fetches, want 2: the refetch starts anyway", srv.hits.Load())
		}
	}

	// Within the cooldown, no further fetch.
	ks.RefetchForRoute(ctx)
	fc.Step(time.Millisecond)
	if got := srv.hits.Load(); got != 2 {
		t.Errorf("got %d fetches within the cooldown, want 2", got)
	}
}
