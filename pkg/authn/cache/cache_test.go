package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	testingclock "k8s.io/utils/clock/testing"
)

// counting is an AuthenticateFunc that returns fixed results and counts calls.
type counting struct {
	calls  atomic.Int64
	result func(token string) Result
	block  chan struct{} // when set, calls wait on it
}

func (c *counting) authenticate(_ context.Context, token string) Result {
	c.calls.Add(1)
	if c.block != nil {
		<-c.block
	}
	return c.result(token)
}

func okUntil(exp time.Time) func(string) Result {
	return func(token string) Result {
		return Result{Response: &authenticator.Response{User: &user.DefaultInfo{Name: "u-" + token}}, OK: true, Expiry: exp}
	}
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

var ttlCases = []struct {
	name      string
	result    func(string) Result
	advance   time.Duration
	wantCalls int64
}{
	{"success reused within successTTL", okUntil(t0.Add(time.Hour)), 119 * time.Second, 1},
	{"success expires after successTTL", okUntil(t0.Add(time.Hour)), 121 * time.Second, 2},
	{"success capped at exp", okUntil(t0.Add(30 * time.Second)), 31 * time.Second, 2},
	{"no exp: successTTL", okUntil(time.Time{}), 100 * time.Second, 1},
	{"already expired: not cached", okUntil(t0.Add(-time.Second)), 0, 2},
	{"failure reused within failureTTL", func(string) Result { return Result{Err: errors.New("bad")} }, 9 * time.Second, 1},
	{"failure expires after failureTTL", func(string) Result { return Result{Err: errors.New("bad")} }, 11 * time.Second, 2},
	{"NoCache never cached", func(string) Result { return Result{Err: errors.New("garbage"), NoCache: true} }, 0, 2},
}

func TestTTL(t *testing.T) {
	for _, tc := range ttlCases {
		t.Run(tc.name, func(t *testing.T) {
			clk := testingclock.NewFakeClock(t0)
			next := &counting{result: tc.result}
			c := New(next.authenticate, Options{SuccessTTL: 2 * time.Minute, FailureTTL: 10 * time.Second, MaxEntries: 100, Clock: clk})
			c.AuthenticateToken(context.Background(), "tok")
			clk.Step(tc.advance)
			c.AuthenticateToken(context.Background(), "tok")
			if got := next.calls.Load(); got != tc.wantCalls {
				t.Fatalf("got %d calls, want %d", got, tc.wantCalls)
			}
		})
	}
}

func TestAudiencesArePartOfTheKey(t *testing.T) {
	next := &counting{result: okUntil(time.Time{})}
	c := New(next.authenticate, Options{SuccessTTL: time.Minute, FailureTTL: time.Second, MaxEntries: 100})
	ctxs := []context.Context{
		context.Background(),
		authenticator.WithAudiences(context.Background(), authenticator.Audiences{"a"}),
		authenticator.WithAudiences(context.Background(), authenticator.Audiences{"a", "b"}),
		authenticator.WithAudiences(context.Background(), authenticator.Audiences{"ab"}),
	}
	for _, ctx := range ctxs {
		c.AuthenticateToken(ctx, "tok")
		c.AuthenticateToken(ctx, "tok")
	}
	if got := next.calls.Load(); got != int64(len(ctxs)) {
		t.Fatalf("got %d calls, want %d: each audience set is its own entry", got, len(ctxs))
	}
}

// TestLookupAuthenticated: it finds the authenticated answer the review
// would get, for the same audiences, counts a hit only when it returns one,
// and never computes.
func TestLookupAuthenticated(t *testing.T) {
	clk := testingclock.NewFakeClock(t0)
	next := &counting{result: func(token string) Result {
		if token == "bad" {
			return Result{Err: errors.New("bad")}
		}
		return okUntil(time.Time{})(token)
	}}
	m := NewMetrics(prometheus.NewRegistry())
	c := New(next.authenticate, Options{SuccessTTL: time.Minute, FailureTTL: time.Minute, MaxEntries: 100, Clock: clk, Metrics: m})
	auds := authenticator.Audiences{"a"}
	ctx := authenticator.WithAudiences(context.Background(), auds)
	if _, ok := c.LookupAuthenticated(auds, "tok"); ok {
		t.Fatal("got an answer before any review, want none")
	}
	want, _, _ := c.AuthenticateToken(ctx, "tok")
	c.AuthenticateToken(ctx, "bad")
	hitsBefore := testutil.ToFloat64(m.hits)

	for _, tc := range []struct {
		name    string
		auds    authenticator.Audiences
		token   string
		want    bool
		advance time.Duration
	}{
		{name: "the cached answer", auds: auds, token: "tok", want: true},
		{name: "other audiences", auds: nil, token: "tok"},
		{name: "a cached failure", auds: auds, token: "bad"},
		{name: "expired", auds: auds, token: "tok", advance: 2 * time.Minute},
	} {
		clk.Step(tc.advance)
		got, ok := c.LookupAuthenticated(tc.auds, tc.token)
		if ok != tc.want || (ok && got != want) {
			t.Errorf("%s: got %v %v, want found=%v (the review's own answer)", tc.name, got, ok, tc.want)
		}
	}
	if got := testutil.ToFloat64(m.hits) - hitsBefore; got != 1 {
		t.Errorf("got %v hits counted, want 1", got)
	}
	if got := next.calls.Load(); got != 2 {
		t.Errorf("got %d computations, want 2 (the reviews')", got)
	}
}

func TestBoundedWithLRUEviction(t *testing.T) {
	next := &counting{result: okUntil(time.Time{})}
	c := New(next.authenticate, Options{SuccessTTL: time.Hour, FailureTTL: time.Second, MaxEntries: 64 * shardCount})
	for i := range 10000 {
		c.AuthenticateToken(context.Background(), fmt.Sprint("tok-", i))
	}
	if got, want := c.Len(), 64*shardCount; got > want {
		t.Fatalf("got %d entries, want at most %d", got, want)
	}
	calls := next.calls.Load()
	c.AuthenticateToken(context.Background(), "tok-9999") // most recent: still cached
	if next.calls.Load() != calls {
		t.Fatalf("most recently used entry was evicted")
	}
	c.AuthenticateToken(context.Background(), "tok-0") // oldest: evicted
	if next.calls.Load() != calls+1 {
		t.Fatalf("oldest entry was not evicted")
	}
}

// TestRejectionsCannotEvictAnswers: a flood of rejections, far past the
// bound, evicts only rejections; every authenticated answer stays cached,
// and the rejections stay within their own quarter.
func TestRejectionsCannotEvictAnswers(t *testing.T) {
	next := &counting{result: func(token string) Result {
		if strings.HasPrefix(token, "forged-") {
			return Result{Err: errors.New("bad signature")}
		}
		return okUntil(time.Time{})(token)
	}}
	const maxEntries = 64 * shardCount
	c := New(next.authenticate, Options{SuccessTTL: time.Hour, FailureTTL: time.Hour, MaxEntries: maxEntries})
	ctx := context.Background()
	for i := range maxEntries / 2 {
		c.AuthenticateToken(ctx, fmt.Sprint("real-", i))
	}
	for i := range 20 * maxEntries {
		c.AuthenticateToken(ctx, fmt.Sprint("forged-", i))
	}
	if got, want := c.Len(), maxEntries/2+maxEntries/failedShare; got > want {
		t.Errorf("got %d entries, want at most %d (the answers and a quarter of the bound)", got, want)
	}
	calls := next.calls.Load()
	for i := range maxEntries / 2 {
		c.AuthenticateToken(ctx, fmt.Sprint("real-", i))
	}
	if got := next.calls.Load() - calls; got != 0 {
		t.Errorf("got %d real answers computed again after the flood, want 0", got)
	}
}

// TestCoalescing: N concurrent identical lookups cause one computation,
// and a caller that gives up does not fail the others.
func TestCoalescing(t *testing.T) {
	next := &counting{result: okUntil(time.Time{}), block: make(chan struct{})}
	c := New(next.authenticate, Options{SuccessTTL: time.Minute, FailureTTL: time.Second, MaxEntries: 100})
	first, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var okCount atomic.Int64
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			if i == 0 {
				ctx = first
			}
			if _, ok, _ := c.AuthenticateToken(ctx, "tok"); ok {
				okCount.Add(1)
			}
		}()
	}
	waitFor(t, func() bool { return next.calls.Load() == 1 })
	cancel()
	time.Sleep(10 * time.Millisecond) // let the others queue on the in-flight call
	close(next.block)
	wg.Wait()
	if got := next.calls.Load(); got != 1 {
		t.Fatalf("got %d computations for 100 identical lookups, want 1", got)
	}
	if okCount.Load() != 100 {
		t.Fatalf("got %d successes, want 100 (a cancelled first caller must not fail the rest)", okCount.Load())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
