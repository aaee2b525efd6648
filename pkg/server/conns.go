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
	mu    sync.Mutex
	conns map[net.Conn]http.ConnState
}

func (c *connTracker) track(conn net.Conn, state http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conns == nil {
		c.conns = map[net.Conn]http.ConnState{}
	}
	switch state {
	case http.StateClosed, http.StateHijacked:
		delete(c.conns, conn)
	default:
		c.conns[conn] = state
	}
}

// closeIdle closes idle connections and reports how many are still busy.
func (c *connTracker) closeIdle() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	busy := 0
	for conn, state := range c.conns {
		if state == http.StateIdle {
			_ = conn.Close()
			continue
		}
		busy++
	}
	return busy
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
