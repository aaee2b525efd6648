package bearer

import (
	"container/list"
	"errors"
	"math"
	"net"
	"net/netip"
	"sync"
	"time"
)

// DefaultMaxClients is Limit.MaxClients' default.
const DefaultMaxClients = 10000

// Limit bounds, per client of the service, the tokens that are checked and
// not accepted. Each such token cost a review at tokenfed, charged to the
// service's own rate there; a client that makes tokens up could otherwise
// spend that rate, and tokenfed would then refuse the service (429) and
// every real user with it.
//
// Only failed checks count: a client whose tokens are accepted is never
// limited, unless it shares its key with one whose tokens are not. Once a
// client has no failures left, its requests are refused before its token
// is checked, until it has earned one back. Over any period T a client
// causes at most Burst + Rate·T failed checks, plus those it had in flight
// when it ran out: failures in flight are charged when they end, as debt
// the client then waits out.
type Limit struct {
	// Rate is how many failed checks per second a client earns back.
	Rate float64
	// Burst is how many failed checks a client may cause at once.
	Burst int
	// MaxClients bounds the clients remembered. When a new client comes
	// and the table is full, the one least recently seen is forgotten.
	// Default DefaultMaxClients.
	MaxClients int
}

func (l Limit) validate() error {
	if !(l.Rate > 0) || math.IsInf(l.Rate, 0) {
		return errors.New("client limit: Rate must be a positive number of failed checks per second")
	}
	if l.Burst < 1 {
		return errors.New("client limit: Burst must be at least 1")
	}
	if l.MaxClients < 0 {
		return errors.New("client limit: MaxClients must not be negative")
	}
	return nil
}

// limiter is a token bucket of failures per client, in a table of bounded
// size.
type limiter struct {
	rate, burst float64
	max         int
	now         func() time.Time

	mu      sync.Mutex
	clients map[string]*list.Element // of *bucket
	order   *list.List               // front: seen most recently
}

type bucket struct {
	key    string
	tokens float64 // failures left; negative: debt
	at     time.Time
}

func newLimiter(l Limit) *limiter {
	max := l.MaxClients
	if max == 0 {
		max = DefaultMaxClients
	}
	return &limiter{
		rate: l.Rate, burst: float64(l.Burst), max: max, now: time.Now,
		clients: make(map[string]*list.Element), order: list.New(),
	}
}

// refill brings b's tokens up to now.
func (l *limiter) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(l.burst, b.tokens+d.Seconds()*l.rate)
	}
	b.at = now
}

// wait returns how long client must wait before a token of its may be
// checked: 0 for now.
func (l *limiter) wait(client string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.clients[client]
	if !ok {
		return 0
	}
	l.order.MoveToFront(e)
	b := e.Value.(*bucket)
	l.refill(b, l.now())
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration(math.Ceil((1 - b.tokens) / l.rate * float64(time.Second)))
}

// fail charges client one failed check.
func (l *limiter) fail(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	e, ok := l.clients[client]
	if !ok {
		if l.order.Len() >= l.max {
			old := l.order.Back()
			l.order.Remove(old)
			delete(l.clients, old.Value.(*bucket).key)
		}
		e = l.order.PushFront(&bucket{key: client, tokens: l.burst, at: now})
		l.clients[client] = e
	}
	l.order.MoveToFront(e)
	b := e.Value.(*bucket)
	l.refill(b, now)
	b.tokens--
}

// ClientIP is the default client key of a remote address "host:port": the
// IP address, an IPv6 address cut to its /64 (one host usually holds a
// whole /64). An address that is not host:port with an IP is its own key.
func ClientIP(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return remoteAddr
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		// Prefix cannot fail for 64 bits of an IPv6 address.
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
