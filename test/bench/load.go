package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

// target is one endpoint under load.
type target struct {
	url    string
	tls    *tls.Config // nil for plain HTTP (kubectl proxy)
	bodies bodySource
	// authorization is the Authorization header: "Bearer " and the
	// caller's own token, built once; "" for none.
	authorization string
}

// bodySource hands out request bodies; ok=false means it ran out (each
// uncached token is used once).
type bodySource func(i int64) (body []byte, ok bool)

// run is one measured load run.
type run struct {
	requests int64
	errors   int64
	non200   int64
	elapsed  time.Duration
	p50, p99 time.Duration
	firstErr string          // the first error or non-2xx answer, to explain the errors column
	lat      []time.Duration // sorted, to merge slices of a run
}

func (r run) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// client builds the same load client for every case: HTTP/1.1 with
// keep-alive, or HTTP/2 multiplexed over one connection.
func client(t target, h2 bool, conc int) *http.Client {
	if t.tls == nil {
		return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc}}
	}
	if h2 {
		cfg := t.tls.Clone()
		cfg.NextProtos = []string{"h2"}
		return &http.Client{Transport: &http2.Transport{TLSClientConfig: cfg}}
	}
	cfg := t.tls.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc}}
}

// load runs conc workers against t for d (or until bodies run out).
func load(t target, h2 bool, conc int, d time.Duration, next *atomic.Int64) run {
	return loadWith(client(t, h2, conc), t, conc, d, next)
}

// loadWith is load on client c, whose connections may be open already
// from an earlier slice of the same run.
func loadWith(c *http.Client, t target, conc int, d time.Duration, next *atomic.Int64) run {
	var errs, non200 atomic.Int64
	var firstErr atomic.Value
	lat := make([][]time.Duration, conc)
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				body, ok := t.bodies(next.Add(1))
				if !ok {
					return
				}
				t0 := time.Now()
				code, answer, err := postAs(c, t.url, t.authorization, body)
				lat[w] = append(lat[w], time.Since(t0))
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				} else if code/100 != 2 {
					non200.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("HTTP %d: %.200s", code, answer))
				}
			}
		}()
	}
	wg.Wait()
	all := slices.Concat(lat...)
	slices.Sort(all)
	first, _ := firstErr.Load().(string)
	return run{requests: int64(len(all)), errors: errs.Load(), non200: non200.Load(), elapsed: time.Since(start), p50: pct(all, 0.50), p99: pct(all, 0.99), firstErr: first, lat: all}
}

// merge adds o, a later slice of the same run.
func (r run) merge(o run) run {
	lat := slices.Concat(r.lat, o.lat)
	slices.Sort(lat)
	first := r.firstErr
	if first == "" {
		first = o.firstErr
	}
	return run{requests: r.requests + o.requests, errors: r.errors + o.errors, non200: r.non200 + o.non200, elapsed: r.elapsed + o.elapsed,
		p50: pct(lat, 0.50), p99: pct(lat, 0.99), firstErr: first, lat: lat}
}

// post returns the status code, and the body only for a non-2xx answer.
func post(c *http.Client, url string, body []byte) (int, []byte, error) {
	return postAs(c, url, "", body)
}

// postAs is post with an Authorization header, when there is one.
func postAs(c *http.Client, url, authorization string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return resp.StatusCode, answer, nil
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil, nil
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}
