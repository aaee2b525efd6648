package server

import (
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// probeAcceptedWithin is the kubelet's default probe timeout (1 s) and
// slack for a loaded 2-core machine.
const probeAcceptedWithin = 2 * time.Second

// TestIdleConnectionsCannotLockOutNewClients: connections that hold no
// request (as anyone who can reach the port can open: TLS needs no
// credential) do not keep a new client out past MaxConnections: the one
// idle the longest is closed to make room. Otherwise a thousand idle
// connections, refreshed by a cheap request every idleTimeout, would lock
// out every caller and the kubelet's probes (which open a new connection
// each time), so a liveness probe would fail and tokenfed be restarted.
func TestIdleConnectionsCannotLockOutNewClients(t *testing.T) {
	const maxConns = 3
	r := runServer(t, Options{MaxConnections: maxConns}, newBlocking())
	time.Sleep(100 * time.Millisecond) // waitServing's probe connections close
	for i := range maxConns {
		c, err := dialTLS(r, time.Second)
		if err != nil {
			t.Fatalf("idle connection %d of %d: %v", i+1, maxConns, err)
		}
		t.Cleanup(func() { c.Close() })
		time.Sleep(10 * time.Millisecond) // each idle since a distinct time
	}
	c, err := dialTLS(r, probeAcceptedWithin)
	if err != nil {
		t.Fatalf("a new client past %d idle connections: %v, want it accepted within %s", maxConns, err, probeAcceptedWithin)
	}
	cc, err := (&http2.Transport{}).NewClientConn(c)
	must(t, err)
	t.Cleanup(func() { cc.Close() })
	if code, _, err := get(cc, r.url+"/healthz"); err != nil || code != http.StatusOK {
		t.Fatalf("a new client's probe past %d idle connections: got %d, %v; want 200", maxConns, code, err)
	}
	if got := metricValue(t, r.reg, "tokenfed_server_connections"); got > maxConns {
		t.Errorf("got tokenfed_server_connections %v, want at most %d", got, maxConns)
	}
}
