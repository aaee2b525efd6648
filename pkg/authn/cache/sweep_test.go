package cache

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

// TestExpiredEntriesDoNotAccumulate: under a stream of distinct tokens,
// answers and failures whose TTL has run out are dropped as new ones come
// in, so the cache holds about rate × TTL entries instead of growing to
// maxEntries of expired ones (found by make soak).
func TestExpiredEntriesDoNotAccumulate(t *testing.T) {
	const perMinute, maxEntries = 2000, 100000
	clk := testingclock.NewFakeClock(t0)
	c := New(func(_ context.Context, token string) Result {
		if token[0] == 'f' {
			return Result{Err: errors.New("forged")}
		}
		return okUntil(time.Time{})(token)
	}, Options{SuccessTTL: time.Minute, FailureTTL: time.Minute, MaxEntries: maxEntries, Clock: clk})
	for minute := range 10 {
		for i := range perMinute {
			c.AuthenticateToken(context.Background(), fmt.Sprintf("ok-%d-%d", minute, i))
			c.AuthenticateToken(context.Background(), fmt.Sprintf("f-%d-%d", minute, i))
		}
		clk.Step(time.Minute + time.Second)
	}
	// Each minute's entries have expired by the next; a few may wait in
	// shards that saw fewer new tokens than expired ones.
	if got, limit := c.Len(), 2*perMinute*5/4; got > limit {
		t.Fatalf("after 10 minutes of %d distinct tokens a minute with a 1m TTL the cache holds %d entries, want at most %d", 2*perMinute, got, limit)
	}
}
