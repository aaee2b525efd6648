package faults

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// Figures of the bound on connections and streams. The bounds are small
// so that the attack is many times over them on a 2-core machine; the
// defaults (1000, 100, 400) bound the same way, further out.
const (
	boundConnections = 40
	boundStreams     = 10
	boundInFlight    = 20
	// attackConnections try to connect, each opening attackStreams
	// streams that send headers and never a body (idle streams, as a
	// caller with a valid certificate could): 3 and 2 times the bounds.
	attackConnections = 3 * boundConnections
	attackStreams     = 2 * boundStreams
	// goroutinesPerConnection is what x/net/http2 runs per connection
	// (its serve loop and its frame reader) and a write in progress.
	goroutinesPerConnection = 3
	// maxGoroutineGrowth is the figure: the process's goroutines grow by
	// at most this, however many connections and streams are tried.
	maxGoroutineGrowth = boundConnections*goroutinesPerConnection + boundInFlight + 30
	// unboundedGrowth is what the same attack would hold without the
	// bounds: a handler goroutine per stream and the connection's own.
	unboundedGrowth = attackConnections * (attackStreams + 2)
	// attackHandshake is how long an attacker waits to be accepted.
	attackHandshake = time.Second
	// freedWithin: once the attackers hang up, a review is served again
	// within this.
	freedWithin = 2 * time.Second
	// attackSettle is given to the server to take in what it accepted
	// before the goroutines are counted.
	attackSettle = 500 * time.Millisecond
	// attackReadTimeout keeps the idle streams' handlers waiting for their
	// bodies all through the test (server.readTimeout).
	attackReadTimeout = 30 * time.Second
)

// TestIdleStreamsBounded: connections and idle HTTP/2 streams many times
// over the bounds hold no more than the bounds allow. Figures: at most
// boundConnections connections open (past it the one idle the longest is
// closed for a new one, and when none is idle a client waits); at
// most boundInFlight requests in flight, the other streams refused by
// HTTP/2 (over boundStreams per connection) or answered 503 at once; the
// process's goroutines (go_goroutines) grow by at most maxGoroutineGrowth,
// against unboundedGrowth without the bounds; /readyz and /metrics keep
// answering; once the attackers hang up, reviews are served again within
// freedWithin.
func TestIdleStreamsBounded(t *testing.T) {
	is := newIssuer(t, "edge")
	tf := startTokenfed(t, v1alpha1.Configuration{
		Issuers: []v1alpha1.Issuer{is.config()},
		Server: v1alpha1.Server{
			MaxConnections: boundConnections, MaxConcurrentStreams: boundStreams, MaxRequestsInFlight: boundInFlight,
			ReadTimeout: duration(attackReadTimeout),
		},
	})
	// The observer is an authorized client that reconnects, as client-go
	// does: its connection, idle between requests, may be closed to make
	// room for a new one past the bound, and its next request then opens
	// another.
	observer := h2Client(tf.p)
	before := goroutines(t, observer, tf.p.URL)

	attack := newIdleStreamAttack(t, strings.TrimPrefix(tf.p.URL, "https://"), tf.p.TLSConfig())
	attack.run(attackConnections, attackStreams)
	time.Sleep(attackSettle)
	during := goroutines(t, observer, tf.p.URL)
	conns := metricOn(t, observer, tf.p.URL, "tokenfed_server_connections")
	inFlight := metricOn(t, observer, tf.p.URL, "tokenfed_server_requests_in_flight")
	refusedOverload := metricOn(t, observer, tf.p.URL, "tokenfed_server_overload_refusals_total")
	if code, _, err := get(observer, tf.p.URL+"/readyz"); err != nil || code != http.StatusOK {
		t.Fatalf("got /readyz %d (%v) during the attack, want 200", code, err)
	}
	accepted := attack.accepted.Load()
	evicted := metricOn(t, observer, tf.p.URL, "tokenfed_server_idle_connection_evictions_total")
	attack.close()

	switch {
	case conns > boundConnections:
		t.Fatalf("got %v connections open during the attack, want at most %d", conns, boundConnections)
	case accepted < boundConnections/2:
		t.Fatalf("got only %d attack connections accepted, want the bound reached (the attack did not happen)", accepted)
	case inFlight > boundInFlight:
		t.Fatalf("got %v requests in flight, want at most %d", inFlight, boundInFlight)
	case during-before > maxGoroutineGrowth:
		t.Fatalf("got goroutines %v -> %v (+%v) during the attack, want at most +%d", before, during, during-before, maxGoroutineGrowth)
	}
	freed := waitFor(t, freedWithin, "a review served once the attackers hung up", func() (bool, string) {
		r := tf.mustReview(t, is.token(t, claims{}))
		return r.status.Authenticated, r.String()
	})
	t.Logf("%d connections × %d idle streams tried: %d connections accepted (%v idle ones closed for room; bound %d open), %d streams refused by HTTP/2, %v answered 503, %v in flight (bound %d); goroutines %v -> %v (+%v, bound +%d, unbounded +%d); reviews served %s after the attackers hung up",
		attackConnections, attackStreams, accepted, evicted, boundConnections, attack.resets.Load(), refusedOverload, inFlight, boundInFlight,
		before, during, during-before, maxGoroutineGrowth, unboundedGrowth, freed.Round(time.Millisecond))
}

// idleStreamAttack opens HTTP/2 connections by hand (x/net's Framer), and
// on each, streams whose request body never comes.
type idleStreamAttack struct {
	t        *testing.T
	addr     string
	conf     *tls.Config
	accepted atomic.Int64
	resets   atomic.Int64

	mu    sync.Mutex
	conns []net.Conn
}

func newIdleStreamAttack(t *testing.T, addr string, conf *tls.Config) *idleStreamAttack {
	conf = conf.Clone()
	conf.NextProtos, conf.ServerName = []string{http2.NextProtoTLS}, "127.0.0.1"
	a := &idleStreamAttack{t: t, addr: addr, conf: conf}
	t.Cleanup(a.close)
	return a
}

// run tries n connections at once, each with streams idle streams, and
// returns once each was accepted or gave up.
func (a *idleStreamAttack) run(n, streams int) {
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			c, err := a.open(streams)
			if err != nil {
				return
			}
			a.accepted.Add(1)
			a.mu.Lock()
			a.conns = append(a.conns, c)
			a.mu.Unlock()
		})
	}
	wg.Wait()
}

func (a *idleStreamAttack) open(streams int) (net.Conn, error) {
	raw, err := net.DialTimeout("tcp", a.addr, attackHandshake)
	if err != nil {
		return nil, err
	}
	c := tls.Client(raw, a.conf)
	ctx, cancel := context.WithTimeout(context.Background(), attackHandshake)
	defer cancel()
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		c.Close()
		return nil, err
	}
	fr := http2.NewFramer(c, c)
	// One goroutine reads while another writes; writes take turns.
	var writing sync.Mutex
	if err := fr.WriteSettings(); err != nil {
		c.Close()
		return nil, err
	}
	go a.read(fr, &writing)
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for i := range streams {
		block.Reset()
		for _, f := range [][2]string{{":method", "POST"}, {":scheme", "https"}, {":authority", a.addr}, {":path", "/authenticate"}, {"content-type", "application/json"}, {"content-length", "1000"}} {
			_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		writing.Lock()
		err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: block.Bytes(), EndHeaders: true})
		writing.Unlock()
		if err != nil {
			break
		}
	}
	return c, nil
}

// read acknowledges the server's SETTINGS (else the server treats streams
// over its limit as a protocol error, not a refusal) and counts refused
// streams, until the connection closes.
func (a *idleStreamAttack) read(fr *http2.Framer, writing *sync.Mutex) {
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				writing.Lock()
				_ = fr.WriteSettingsAck()
				writing.Unlock()
			}
		case *http2.RSTStreamFrame:
			if f.ErrCode == http2.ErrCodeRefusedStream {
				a.resets.Add(1)
			}
		}
	}
}

func (a *idleStreamAttack) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.conns {
		c.Close()
	}
	a.conns = nil
}

// get is a GET over cc: one connection (*http2.ClientConn) or a
// transport that reconnects (*http2.Transport).
func get(cc http.RoundTripper, url string) (int, string, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	resp, err := cc.RoundTrip(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// metricOn reads one unlabelled series of /metrics over cc.
func metricOn(t *testing.T, cc http.RoundTripper, url, name string) float64 {
	t.Helper()
	code, body, err := get(cc, url+"/metrics")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	v, ok := seriesValue(body, name)
	if !ok {
		t.Fatalf("no %s in /metrics", name)
	}
	return v
}

func goroutines(t *testing.T, cc http.RoundTripper, url string) float64 {
	t.Helper()
	return metricOn(t, cc, url, "go_goroutines")
}

// h2Client is an HTTP/2 client of p that opens a new connection when its
// last one closed.
func h2Client(p *tokenfedproc.Process) *http2.Transport {
	conf := p.TLSConfig()
	conf.NextProtos = []string{http2.NextProtoTLS}
	return &http2.Transport{TLSClientConfig: conf}
}
