package keyset

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// TestUnknownKidFlood sends 1000 random kids at once: the issuer must see at
// most one fetch per cooldown window.
func TestUnknownKidFlood(t *testing.T) {
	ek := testECKey(t)
	srv := newJWKSServer(t, jwksDoc(t, publicJWK(ek, "ec1", "ES256")))
	ks, fc := remoteKeySet(t, srv, nil)

	flood := func(round int) {
		var wg sync.WaitGroup
		for i := range 1000 {
			wg.Go(func() {
				_, err := ks.Key(context.Background(), fmt.Sprintf("random-%d-%d", round, i), "ES256")
				if !errors.Is(err, ErrUnknownKey) {
					t.Errorf("got error %v, want %v", err, ErrUnknownKey)
				}
			})
		}
		wg.Wait()
	}
	steps := []struct {
		advance  time.Duration
		wantHits int64
	}{
		{0, 1},
		{5 * time.Second, 1},
		{4 * time.Second, 1},
		{time.Second, 2}, // 10s after the first fetch: a new window
		{9 * time.Second, 2},
		{time.Second, 3},
	}
	for i, s := range steps {
		fc.Step(s.advance)
		flood(i)
		if got := srv.hits.Load(); got != s.wantHits {
			t.Fatalf("step %d: got %d fetches, want %d", i, got, s.wantHits)
		}
	}
}

// TestUnknownKidPicksUpRotation checks the refetch actually serves a newly
// published key.
func TestUnknownKidPicksUpRotation(t *testing.T) {
	old, rotated := testECKey(t), testECKey(t)
	srv := newJWKSServer(t, jwksDoc(t, publicJWK(old, "old", "")))
	ks, fc := remoteKeySet(t, srv, nil)
	ctx := context.Background()
	if _, err := ks.Key(ctx, "old", "ES256"); err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	srv.set(http.StatusOK, jwksDoc(t, publicJWK(old, "old", ""), publicJWK(rotated, "new", "")), "")
	if _, err := ks.Key(ctx, "new", "ES256"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("within cooldown: got error %v, want %v", err, ErrUnknownKey)
	}
	fc.Step(DefaultUnknownKidCooldown)
	tok := sign(t, rotated, jose.ES256, "new", payload, nil)
	if _, err := ks.VerifySignature(ctx, tok); err != nil {
		t.Fatalf("after cooldown: got error %v, want nil", err)
	}
	if !ks.HasKid("new") {
		t.Fatal("got HasKid(new) false, want true")
	}
}

// TestStaleIfError: failed refreshes keep the last keys, report their age,
// and drop them once MaxStaleness has passed since the last success.
func TestStaleIfError(t *testing.T) {
	ek := testECKey(t)
	srv := newJWKSServer(t, jwksDoc(t, publicJWK(ek, "ec1", "")))
	ks, fc := remoteKeySet(t, srv, func(o *Options) { o.MaxStaleness = 3 * time.Minute })
	refreshed := runKeySet(t, ks)
	if err := next(t, refreshed); err != nil {
		t.Fatalf("initial load: got error %v, want nil", err)
	}
	srv.set(http.StatusServiceUnavailable, []byte("down"), "")

	steps := []struct {
		wantAge    time.Duration
		wantLoaded bool
		wantKey    error
	}{
		{time.Minute, true, nil},
		{2 * time.Minute, true, nil},
		{3 * time.Minute, true, nil},
		{4 * time.Minute, false, ErrNotReady},
	}
	for i, s := range steps {
		fc.Step(DefaultMinRefresh)
		if err := next(t, refreshed); err == nil {
			t.Fatalf("step %d: got nil refresh error, want one", i)
		}
		st := ks.Status()
		if st.Age != s.wantAge || st.Loaded != s.wantLoaded || st.Stale != s.wantLoaded {
			t.Fatalf("step %d: got %+v, want age %s loaded/stale %v", i, st, s.wantAge, s.wantLoaded)
		}
		if st.LastError == "" || !st.LastSuccess.Equal(epoch) {
			t.Fatalf("step %d: got %+v, want LastError set and LastSuccess %s", i, st, epoch)
		}
		if _, err := ks.Key(context.Background(), "ec1", "ES256"); !errors.Is(err, s.wantKey) {
			t.Fatalf("step %d: got key error %v, want %v", i, err, s.wantKey)
		}
	}

	srv.set(http.StatusOK, jwksDoc(t, publicJWK(ek, "ec1", "")), "")
	fc.Step(DefaultMinRefresh)
	if err := next(t, refreshed); err != nil {
		t.Fatalf("recovery: got error %v, want nil", err)
	}
	if st := ks.Status(); !st.Loaded || st.Stale || st.Age != 0 || st.LastError != "" || st.KeyCount != 1 {
		t.Fatalf("recovery: got %+v, want fresh and loaded", st)
	}
}

// TestRefreshFollowsCacheControl: the next background fetch happens exactly
// when max-age, clamped to [MinRefresh, MaxRefresh], has passed.
func TestRefreshFollowsCacheControl(t *testing.T) {
	tests := []struct {
		cacheControl string
		want         time.Duration
	}{
		{"public, max-age=300", 5 * time.Minute},
		{"max-age=5", DefaultMinRefresh},
		{"max-age=86400", DefaultMaxRefresh},
		{"", DefaultMinRefresh},
		{"no-store, max-age=600", DefaultMinRefresh},
		{"max-age=junk", DefaultMinRefresh},
	}
	for _, tc := range tests {
		t.Run(tc.cacheControl, func(t *testing.T) {
			srv := newJWKSServer(t, jwksDoc(t, publicJWK(testECKey(t), "ec1", "")))
			srv.set(http.StatusOK, srv.body, tc.cacheControl)
			ks, fc := remoteKeySet(t, srv, nil)
			refreshed := runKeySet(t, ks)
			for round := int64(1); round <= 2; round++ {
				if err := next(t, refreshed); err != nil {
					t.Fatalf("got error %v, want nil", err)
				}
				fc.Step(tc.want - time.Second)
				if got := srv.hits.Load(); got != round {
					t.Fatalf("1s early: got %d fetches, want %d", got, round)
				}
				fc.Step(time.Second)
			}
			if err := next(t, refreshed); err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if got := srv.hits.Load(); got != 3 {
				t.Fatalf("got %d fetches, want 3", got)
			}
		})
	}
}

func TestRunStopsWithContext(t *testing.T) {
	srv := newJWKSServer(t, jwksDoc(t, publicJWK(testECKey(t), "ec1", "")))
	ks, _ := remoteKeySet(t, srv, nil)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		ks.Run(ctx)
		close(stopped)
	}()
	cancel()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
