package bearer

import (
	"testing"
	"time"
)

// TestLimiter: failures are counted per client and earned back at Rate;
// a client with none left waits, others do not.
func TestLimiter(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l := newLimiter(Limit{Rate: 0.5, Burst: 2, MaxClients: 2})
	l.now = func() time.Time { return now }

	if w := l.wait("a"); w != 0 {
		t.Fatalf("new client: got wait %v, want 0", w)
	}
	l.fail("a")
	if w := l.wait("a"); w != 0 {
		t.Fatalf("after 1 of 2 failures: got wait %v, want 0", w)
	}
	l.fail("a")
	if w := l.wait("a"); w != 2*time.Second {
		t.Fatalf("after 2 of 2 failures: got wait %v, want 2s (one failure at 0.5/s)", w)
	}
	if w := l.wait("b"); w != 0 {
		t.Fatalf("another client: got wait %v, want 0", w)
	}
	// Failures in flight when the client ran out are debt.
	l.fail("a")
	if w := l.wait("a"); w != 4*time.Second {
		t.Fatalf("in debt: got wait %v, want 4s", w)
	}
	now = now.Add(4 * time.Second)
	if w := l.wait("a"); w != 0 {
		t.Fatalf("after 4s: got wait %v, want 0", w)
	}
	// Refill stops at Burst.
	now = now.Add(time.Hour)
	l.fail("a")
	l.fail("a")
	if w := l.wait("a"); w == 0 {
		t.Fatal("after an hour and 2 failures: got no wait, want one (refill capped at Burst)")
	}
}

// TestLimiterForgetsLeastRecent: the table holds MaxClients; the client
// seen least recently is forgotten first.
func TestLimiterForgetsLeastRecent(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l := newLimiter(Limit{Rate: 1, Burst: 1, MaxClients: 2})
	l.now = func() time.Time { return now }
	l.fail("a")
	l.fail("b")
	l.wait("a") // a is now the most recent
	l.fail("c") // b goes

	if l.wait("a") == 0 || l.wait("c") == 0 {
		t.Error("a and c: got no wait, want their failures remembered")
	}
	if w := l.wait("b"); w != 0 {
		t.Errorf("b: got wait %v, want it forgotten", w)
	}
	if n := len(l.clients); n != 2 {
		t.Errorf("got %d clients remembered, want 2", n)
	}
}

func TestLimitValidate(t *testing.T) {
	for _, l := range []Limit{{Rate: 0, Burst: 1}, {Rate: -1, Burst: 1}, {Rate: 1, Burst: 0}, {Rate: 1, Burst: 1, MaxClients: -1}} {
		if l.validate() == nil {
			t.Errorf("%+v: got no error", l)
		}
	}
}

func TestClientIP(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7:443":              "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:80":  "2001:db8:1:2::/64",
		"[::ffff:192.0.2.7]:443":     "192.0.2.7",
		"[fe80::1%eth0]:443":         "fe80::/64",
		"192.0.2.7":                  "192.0.2.7",
		"@":                          "@",
		"":                           "",
	} {
		if got := ClientIP(addr); got != want {
			t.Errorf("ClientIP(%q): got %q, want %q", addr, got, want)
		}
	}
}
