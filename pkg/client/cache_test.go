package client

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokenfed/tokenfed/pkg/testing/staticissuer"
)

func newCachingClient(t *testing.T, cfg Config, clk *clocktesting.FakeClock) *Client {
	t.Helper()
	cfg.Cache = CacheConfig{MaxEntries: 100, TTL: time.Hour}
	c, err := newWithClock(cfg, clk)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCacheNeverOutlivesExp: against a real tokenfed, an authenticated
// answer is reused until the token's exp, however long the TTL, and asked
// again from then on. Rejections are reused for the FailureTTL only, and
// the audiences are part of the key.
func TestCacheNeverOutlivesExp(t *testing.T) {
	p := startTokenfed(t, nil)
	clk := clocktesting.NewFakeClock(time.Now())
	c := newCachingClient(t, certConfig(p), clk)
	exp := time.Unix(time.Now().Add(10*time.Minute).Unix(), 0)
	token := mint(t, staticissuer.Claims{Audiences: []string{appAudience}, Expiry: exp})
	start := reviews(t, p)
	steps := []struct {
		name      string
		now       time.Time
		audiences []string
		wantErr   error
		wantAsked int // reviews tokenfed has answered since start
	}{
		{"first", clk.Now(), []string{appAudience}, nil, 1},
		{"again", clk.Now(), []string{appAudience}, nil, 1},
		{"other audiences are another entry", clk.Now(), []string{appAudience, "https://other.example"}, nil, 2},
		{"not authenticated", clk.Now(), []string{"https://other.example"}, ErrNotAuthenticated, 3},
		{"not authenticated is reused", clk.Now().Add(DefaultCacheFailureTTL - time.Second), []string{"https://other.example"}, ErrNotAuthenticated, 3},
		{"for FailureTTL", clk.Now().Add(DefaultCacheFailureTTL), []string{"https://other.example"}, ErrNotAuthenticated, 4},
		{"a second before exp", exp.Add(-time.Second), []string{appAudience}, nil, 4},
		{"at exp", exp, []string{appAudience}, nil, 5},
	}
	for _, s := range steps {
		clk.SetTime(s.now)

		_, err := c.Review(ctxTimeout(t, 30*time.Second), token, s.audiences...)

		if !errors.Is(err, s.wantErr) {
			t.Fatalf("%s: got %v, want %v", s.name, err, s.wantErr)
		}
		if got := reviews(t, p) - start; got != s.wantAsked {
			t.Fatalf("%s: got %d reviews at tokenfed, want %d", s.name, got, s.wantAsked)
		}
	}
}

// TestCacheOpaqueTokenTTL: a token that is not a JWT has no exp to read;
// the TTL alone bounds its answer.
func TestCacheOpaqueTokenTTL(t *testing.T) {
	f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, _ *authenticationv1.TokenReview) {
		writeReview(w, 200, authenticatedAs("u"))
	})
	clk := clocktesting.NewFakeClock(time.Now())
	cfg := f.config()
	cfg.Cache = CacheConfig{MaxEntries: 100, TTL: 10 * time.Second}
	c, err := newWithClock(cfg, clk)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		step      time.Duration
		wantCalls int
	}{{0, 1}, {0, 1}, {9 * time.Second, 1}, {time.Second, 2}} {
		clk.Step(s.step)
		if _, err := c.Review(ctxTimeout(t, 30*time.Second), "opaque-token-ttl"); err != nil {
			t.Fatal(err)
		}
		if got := f.calls(); got != s.wantCalls {
			t.Fatalf("after %s more: got %d requests, want %d", s.step, got, s.wantCalls)
		}
	}
}

// TestCacheResultsAreCopies: a caller that changes its result changes
// nobody else's.
func TestCacheResultsAreCopies(t *testing.T) {
	f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, _ *authenticationv1.TokenReview) {
		st := authenticatedAs("u")
		st.User.Groups = []string{"g"}
		st.User.Extra = map[string]authenticationv1.ExtraValue{"k": {"v"}}
		writeReview(w, 200, st)
	})
	c := newCachingClient(t, f.config(), clocktesting.NewFakeClock(time.Now()))
	res, err := c.Review(ctxTimeout(t, 30*time.Second), "opaque-token-copies")
	if err != nil {
		t.Fatal(err)
	}

	res.User.(*user.DefaultInfo).Groups[0] = "changed"
	res.User.(*user.DefaultInfo).Extra["k"][0] = "changed"

	again, err := c.Review(ctxTimeout(t, 30*time.Second), "opaque-token-copies")
	if err != nil || again.User.GetGroups()[0] != "g" || again.User.GetExtra()["k"][0] != "v" || f.calls() != 1 {
		t.Fatalf("got %v %v (%v) after %d requests, want the cached groups [g] and extra k=[v]", again.User.GetGroups(), again.User.GetExtra(), err, f.calls())
	}
}

// TestCacheWaitEndsWithContext: on a miss the review runs on, shared, but
// each caller waits only as long as its own context.
func TestCacheWaitEndsWithContext(t *testing.T) {
	var f *fakeServer
	f = newFakeServer(t, func(_ http.ResponseWriter, r *http.Request, _ int, _ *authenticationv1.TokenReview) { f.hang(r) })
	c := newCachingClient(t, f.config(), clocktesting.NewFakeClock(time.Now()))

	start := time.Now()
	_, err := c.Review(ctxTimeout(t, 200*time.Millisecond), "opaque-token-wait")

	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want ErrUnavailable at the deadline", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("got %s, want the 200ms deadline", elapsed)
	}
}

func TestPeekExpiry(t *testing.T) {
	jwt := func(payload string) string {
		return "eyJhbGciOiJFUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".c2ln"
	}
	for _, tc := range []struct {
		name, token string
		want        time.Time
		wantOK      bool
	}{
		{"exp", jwt(`{"exp":1700000000}`), time.Unix(1700000000, 0), true},
		{"fractional exp", jwt(`{"exp":1700000000.5}`), time.Unix(1700000000, 5e8), true},
		{"JWT without exp: TTL only", jwt(`{"sub":"u"}`), time.Time{}, true},
		{"opaque: TTL only", "opaque-token", time.Time{}, true},
		{"payload not base64: not cached", "a.%%%.c", time.Time{}, false},
		{"payload not an object: not cached", jwt(`[1]`), time.Time{}, false},
		{"exp not a number: not cached", jwt(`{"exp":"soon"}`), time.Time{}, false},
		{"negative exp: not cached", jwt(`{"exp":-1}`), time.Time{}, false},
		{"huge exp: not cached", jwt(`{"exp":1e300}`), time.Time{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := peekExpiry(tc.token)
			if !got.Equal(tc.want) || ok != tc.wantOK {
				t.Errorf("got (%v, %v), want (%v, %v)", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// TestCacheRejectionsForFailureTTL: a token sent again and again (a client
// of the application with a made-up token) costs one review per
// FailureTTL, not one per request; a negative FailureTTL caches none.
func TestCacheRejectionsForFailureTTL(t *testing.T) {
	for _, tc := range []struct {
		name       string
		failureTTL time.Duration
		steps      []time.Duration // clock steps before each review
		wantCalls  []int
	}{
		{"default", 0, []time.Duration{0, 0, DefaultCacheFailureTTL - time.Millisecond, time.Millisecond}, []int{1, 1, 1, 2}},
		{"set", time.Minute, []time.Duration{0, 59 * time.Second, time.Second}, []int{1, 1, 2}},
		{"negative: off", -1, []time.Duration{0, 0}, []int{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, _ *authenticationv1.TokenReview) {
				writeReview(w, 200, authenticationv1.TokenReviewStatus{Error: "invalid token"})
			})
			clk := clocktesting.NewFakeClock(time.Now())
			cfg := f.config()
			cfg.Cache = CacheConfig{MaxEntries: 100, FailureTTL: tc.failureTTL}
			c, err := newWithClock(cfg, clk)
			if err != nil {
				t.Fatal(err)
			}
			for i, step := range tc.steps {
				clk.Step(step)

				_, err := c.Review(ctxTimeout(t, 30*time.Second), "the-same-made-up-token-again", "aud")

				var na *NotAuthenticatedError
				if !errors.As(err, &na) || na.Code != 200 || na.Reason != "invalid token" {
					t.Fatalf("review %d: got %v, want tokenfed's not authenticated", i, err)
				}
				if got := f.calls(); got != tc.wantCalls[i] {
					t.Fatalf("review %d: got %d requests, want %d", i, got, tc.wantCalls[i])
				}
			}
		})
	}
}

// TestCacheRejectionsEvictNoSuccess: rejections live in a segment of
// their own, so a flood of distinct made-up tokens evicts no
// authenticated answer.
func TestCacheRejectionsEvictNoSuccess(t *testing.T) {
	f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, rv *authenticationv1.TokenReview) {
		if rv.Spec.Token == "opaque-token-of-a-real-user" {
			writeReview(w, 200, authenticatedAs("alice"))
			return
		}
		writeReview(w, 200, authenticationv1.TokenReviewStatus{Error: "invalid token"})
	})
	cfg := f.config()
	cfg.Cache = CacheConfig{MaxEntries: 32} // one authenticated answer per shard
	c, err := newWithClock(cfg, clocktesting.NewFakeClock(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Review(ctxTimeout(t, 30*time.Second), "opaque-token-of-a-real-user"); err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if _, err := c.Review(ctxTimeout(t, 30*time.Second), fmt.Sprintf("made-up-token-%04d", i)); !errors.Is(err, ErrNotAuthenticated) {
			t.Fatalf("got %v, want ErrNotAuthenticated", err)
		}
	}
	calls := f.calls()

	res, err := c.Review(ctxTimeout(t, 30*time.Second), "opaque-token-of-a-real-user")

	if err != nil || res.User.GetName() != "alice" || f.calls() != calls {
		t.Fatalf("got (%v, %v) after %d more requests, want alice from the cache", res, err, f.calls()-calls)
	}
}

// TestCacheKeepsNoErrors: a refused caller or an unavailable tokenfed says
// nothing about the token: the next review asks again.
func TestCacheKeepsNoErrors(t *testing.T) {
	for _, code := range []int{http.StatusTooManyRequests, http.StatusInternalServerError} {
		f := newFakeServer(t, always(code, ""))
		cfg := f.config()
		cfg.Cache = CacheConfig{MaxEntries: 100}
		c := newClient(t, cfg)
		for range 2 {
			if _, err := c.Review(ctxTimeout(t, 30*time.Second), "opaque-token-errors"); errors.Is(err, ErrNotAuthenticated) || err == nil {
				t.Fatalf("HTTP %d: got %v, want an error", code, err)
			}
		}
		if got := f.calls(); got != 2 {
			t.Errorf("HTTP %d: got %d requests, want 2", code, got)
		}
	}
}

// TestCachedRejectionsAreCopies: a caller that changes its error changes
// nobody else's.
func TestCachedRejectionsAreCopies(t *testing.T) {
	f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, _ *authenticationv1.TokenReview) {
		writeReview(w, 200, authenticationv1.TokenReviewStatus{Error: "invalid token"})
	})
	c := newCachingClient(t, f.config(), clocktesting.NewFakeClock(time.Now()))
	_, err := c.Review(ctxTimeout(t, 30*time.Second), "opaque-token-copies")
	var na *NotAuthenticatedError
	if !errors.As(err, &na) {
		t.Fatal(err)
	}

	na.Reason = "changed"

	_, err = c.Review(ctxTimeout(t, 30*time.Second), "opaque-token-copies")
	if !errors.As(err, &na) || na.Reason != "invalid token" || f.calls() != 1 {
		t.Fatalf("got %v after %d requests, want the cached reason", err, f.calls())
	}
}
