package client

import (
	"context"
	"encoding/base64"
	"errors"
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
// again from then on. Rejections are not cached, and the audiences are
// part of the key.
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
		{"not authenticated is not cached", clk.Now(), []string{"https://other.example"}, ErrNotAuthenticated, 4},
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
