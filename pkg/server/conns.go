package server

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// connTracker knows every open connection's state, so shutdown can let
// the busy ones finish while it closes the idle ones (which the closed
// listener and disabled keep-alives keep from becoming busy again).
type connTracker struct {
	metrics *Metrics

	mu    sync.Mutex
	conns map[net.Conn]http.ConnState
	// http2 are the connections served by HTTP/2 (see markHTTP2).
	http2 map[net.Conn]bool
	// load is each connection's requests in flight (see evictIdle).
	load map[net.Conn]*connLoad
}

func (c *connTracker) track(conn net.Conn, state http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.init()
	_, known := c.conns[conn]
	switch state {
	case http.StateClosed, http.StateHijacked:
		if known {
			c.metrics.connectionDelta(-1)
		}
		delete(c.conns, conn)
		delete(c.http2, conn)
		delete(c.load, conn)
	default:
		if !known {
			c.metrics.connectionDelta(1)
			c.load[conn] = &connLoad{idleSince: time.Now()}
		}
		c.conns[conn] = state
	}
}

// markHTTP2 records that conn is served by HTTP/2, before its first
// stream. Such a connection is not closed by closeIdle: shutdown sends it
// GOAWAY, and golang.org/x/net/http2 closes it once its streams are done.
// Closed from here it could lose its last frames, and a client that sends
// a request just then would see the connection lost instead of GOAWAY,
// which it retries on a new connection.
func (c *connTracker) markHTTP2(conn net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.init()
	c.http2[conn] = true
}

func (c *connTracker) init() {
	if c.conns == nil {
		c.conns, c.http2, c.load = map[net.Conn]http.ConnState{}, map[net.Conn]bool{}, map[net.Conn]*connLoad{}
	}
}

// closeIdle closes idle HTTP/1 connections and reports how many are still
// open otherwise: busy ones, and HTTP/2 ones, which close themselves.
func (c *connTracker) closeIdle() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	open := 0
	for conn, state := range c.conns {
		if state == http.StateIdle && !c.http2[conn] {
			_ = conn.Close()
			continue
		}
		open++
	}
	return open
}

// waitIdle returns once no connection is busy or ctx is done.
func (c *connTracker) waitIdle(ctx context.Context) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for c.closeIdle() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
