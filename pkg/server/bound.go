package server

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"
)

// boundedListener accepts at most max connections open at once, as
// netutil.LimitListener does, but a client past the bound is not left
// waiting while connections sit idle: the one idle the longest is closed
// to make room (evict). Only when every connection has a request in flight
// does the client wait for one to close. TLS is accepted from anyone who
// can reach the port, so otherwise anyone could hold every slot with idle
// connections (one cheap request per idleTimeout keeps each open) and lock
// out every caller and the kubelet's probes, which open a new connection
// each time. The accepted connection that waits for a slot is held, so up
// to max+1 are open for a moment.
type boundedListener struct {
	net.Listener
	slots chan struct{}
	// evict closes the connection idle the longest, if one is idle.
	evict func() bool

	closeOnce sync.Once
	done      chan struct{}
}

func newBoundedListener(ln net.Listener, max int, evict func() bool) *boundedListener {
	return &boundedListener{Listener: ln, slots: make(chan struct{}, max), evict: evict, done: make(chan struct{})}
}

func (l *boundedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	select {
	case l.slots <- struct{}{}:
	default:
		l.evict()
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			_ = c.Close()
			return nil, net.ErrClosed
		}
	}
	return &boundedConn{Conn: c, release: func() { <-l.slots }}, nil
}

// Close also ends an Accept waiting for a slot: http.Server.Shutdown waits
// for Serve to return.
func (l *boundedListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// boundedConn gives its slot back once, when it closes.
type boundedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *boundedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// connLoad is what eviction knows of a connection: its requests in
// flight, over both HTTP versions (net/http's ConnState does not follow an
// HTTP/2 connection's streams), and since when it has had none.
type connLoad struct {
	requests  int
	idleSince time.Time
	evicted   bool
}

type connKey struct{}

// connContext puts the connection in every request's context, for
// countRequests.
func connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// countRequests counts each request against its connection while it runs.
func (c *connTracker) countRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _ := r.Context().Value(connKey{}).(net.Conn)
		c.requestDelta(conn, 1)
		defer c.requestDelta(conn, -1)
		next.ServeHTTP(w, r)
	})
}

func (c *connTracker) requestDelta(conn net.Conn, d int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.load[conn]
	if !ok {
		return
	}
	l.requests += d
	if l.requests == 0 {
		l.idleSince = time.Now()
	}
}

// evictIdle closes the connection idle the longest and reports whether
// there was one. It closes the TCP connection under TLS: a close_notify
// written to a client that does not read could block.
func (c *connTracker) evictIdle() bool {
	c.mu.Lock()
	var oldest net.Conn
	var since time.Time
	for conn, l := range c.load {
		if l.requests == 0 && !l.evicted && (oldest == nil || l.idleSince.Before(since)) {
			oldest, since = conn, l.idleSince
		}
	}
	if oldest != nil {
		c.load[oldest].evicted = true
	}
	c.mu.Unlock()
	if oldest == nil {
		return false
	}
	c.metrics.evicted()
	if tc, ok := oldest.(*tls.Conn); ok {
		oldest = tc.NetConn()
	}
	_ = oldest.Close()
	return true
}
