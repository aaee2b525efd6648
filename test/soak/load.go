package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// maxAnswer bounds how much of an answer is read; tokenfed's are a few KB.
const maxAnswer = 1 << 20

// requestTimeout bounds one request; a timeout is an unexpected answer.
const requestTimeout = 10 * time.Second

// load sends the mix at a fixed rate and tallies every answer.
type load struct {
	e        *env
	o        options
	classes  []*class
	tallies  []*tally
	counters []atomic.Int64 // per class: the n of its next request
	// schedule maps a request's sequence number (mod its length) to a
	// class: each class has weight slots, shuffled once with a fixed seed
	// so that the classes interleave the same way on every run.
	schedule []int
	// shared is one HTTP/2 connection, as kube-apiserver's webhook client
	// keeps; fresh opens a new HTTP/1.1 connection per request, so that
	// connection set-up and teardown run all along (a leaked socket or
	// goroutine per connection shows in the slopes).
	shared, fresh *http.Client
	seq           atomic.Int64
	freshSent     atomic.Int64
	preflightSent int64
	window        window
	start, end    time.Time
}

// tally is one class's counts over the run.
type tally struct {
	mu       sync.Mutex
	sent     int64
	problems map[string]int64
	// examples holds the first detail of each reason.
	examples map[string]string
	lat      []time.Duration
}

// window collects latencies between two samples.
type window struct {
	mu  sync.Mutex
	lat []time.Duration
}

func newLoad(e *env, classes []*class, o options) *load {
	l := &load{e: e, o: o, classes: classes, counters: make([]atomic.Int64, len(classes))}
	for i, c := range classes {
		l.tallies = append(l.tallies, &tally{problems: map[string]int64{}, examples: map[string]string{}})
		for range c.weight {
			l.schedule = append(l.schedule, i)
		}
	}
	rand.New(rand.NewPCG(15, 15)).Shuffle(len(l.schedule), func(i, j int) {
		l.schedule[i], l.schedule[j] = l.schedule[j], l.schedule[i]
	})
	h2 := e.tls.Clone()
	h2.NextProtos = []string{"h2"}
	l.shared = &http.Client{Timeout: requestTimeout, Transport: &http.Transport{TLSClientConfig: h2, ForceAttemptHTTP2: true}}
	h1 := e.tls.Clone()
	h1.NextProtos = []string{"http/1.1"}
	l.fresh = &http.Client{Timeout: requestTimeout, Transport: &http.Transport{TLSClientConfig: h1, DisableKeepAlives: true}}
	return l
}

// preflight sends every shape of every class in every API version once,
// over both kinds of connection, and fails on the first unexpected
// answer: a mix that is wrong from the start is not worth ten minutes.
func (l *load) preflight() error {
	for _, c := range l.classes {
		for n := range int64(c.shapes) {
			for vi, v := range apiVersions {
				r, err := c.make(n, v)
				if err != nil {
					return fmt.Errorf("preflight %s: %w", c.name, err)
				}
				client := l.shared
				if vi == 0 {
					client = l.fresh
				}
				code, body, err := l.post(client, r)
				l.preflightSent++
				if err != nil {
					return fmt.Errorf("preflight %s (shape %d, %s): %w", c.name, n, v.path, err)
				}
				if p := check(r, code, body); p != nil {
					return fmt.Errorf("preflight %s (shape %d, %s): %s: %s", c.name, n, v.path, p.reason, p.detail)
				}
			}
		}
	}
	return nil
}

// run sends requests at o.rate from o.workers workers for o.duration, or
// until ctx ends. A worker waits for the limiter, then sends. The
// limiter's burst is one second of requests: when the shared machine
// stalls everything for a moment (every worker waiting on an answer), up
// to a second's worth is made up afterwards, so the rate holds on average;
// a longer stall makes the rate fall short, which the report shows.
func (l *load) run(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, l.o.duration)
	defer cancel()
	limiter := rate.NewLimiter(rate.Limit(l.o.rate), max(1, int(l.o.rate)))
	// The bucket starts full: empty it, so that the run does not open
	// with a burst.
	limiter.AllowN(time.Now(), max(1, int(l.o.rate)))
	var wg sync.WaitGroup
	l.start = time.Now()
	for range l.o.workers {
		wg.Go(func() {
			for limiter.Wait(ctx) == nil {
				l.send(l.seq.Add(1) - 1)
			}
		})
	}
	wg.Wait()
	l.end = time.Now()
}

// send builds, sends and checks the request of sequence number seq.
func (l *load) send(seq int64) {
	ci := l.schedule[seq%int64(len(l.schedule))]
	c, t := l.classes[ci], l.tallies[ci]
	n := l.counters[ci].Add(1) - 1
	r, err := c.make(n, apiVersions[seq%int64(len(apiVersions))])
	if err != nil {
		t.record(0, &problem{"request not built", err.Error()})
		return
	}
	client := l.shared
	if seq%int64(l.o.freshEvery) == 0 {
		client = l.fresh
		l.freshSent.Add(1)
	}
	t0 := time.Now()
	code, body, err := l.post(client, r)
	d := time.Since(t0)
	l.window.add(d)
	if err != nil {
		t.record(d, &problem{"transport error", err.Error()})
		return
	}
	t.record(d, check(r, code, body))
}

// post sends r and returns the status code and the answer.
func (l *load) post(c *http.Client, r request) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, l.e.tokenfed.URL+r.path, bytes.NewReader(r.body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	return resp.StatusCode, body, err
}

func (t *tally) record(d time.Duration, p *problem) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sent++
	if d > 0 {
		t.lat = append(t.lat, d)
	}
	if p == nil {
		return
	}
	t.problems[p.reason]++
	if _, ok := t.examples[p.reason]; !ok {
		t.examples[p.reason] = p.detail
	}
}

// counts returns requests sent and unexpected answers so far.
func (t *tally) counts() (sent, unexpected int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, n := range t.problems {
		unexpected += n
	}
	return t.sent, unexpected
}

func (w *window) add(d time.Duration) {
	w.mu.Lock()
	w.lat = append(w.lat, d)
	w.mu.Unlock()
}

// take returns the window's request count and p99, and starts a new one.
func (w *window) take() (int, time.Duration) {
	w.mu.Lock()
	lat := w.lat
	w.lat = nil
	w.mu.Unlock()
	slices.Sort(lat)
	return len(lat), percentile(lat, 0.99)
}

// unexpected is the number of unexpected answers of every class so far.
func (l *load) unexpected() int64 {
	var total int64
	for _, t := range l.tallies {
		_, u := t.counts()
		total += u
	}
	return total
}

// percentile of sorted latencies; 0 for none.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}
