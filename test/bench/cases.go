package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"
)

// benchCase is one row family of the table.
type benchCase struct {
	name   string
	url    string
	tls    *tls.Config
	bodies bodySource
	// authorization carries the caller's own token ("Bearer ..."); ""
	// when the client certificate is the caller.
	authorization string
	next          *atomic.Int64 // shared by the case's runs, so pooled tokens are never reused
	server        []string      // processes whose CPU and RSS the case is charged
	noH2          bool
	pooled        bool // each token used once: runs are capped so the pool lasts
	// onceAt names the server that must see each pooled token only once
	// across cases: cases with the same onceAt share one counter into the
	// pool. "" gives the case a counter of its own (its server is its
	// own, or forgets).
	onceAt string
	// custom measures the case its own way instead of the four load runs
	// (the cache-fill row, 3f).
	custom func(ctx context.Context, d time.Duration) ([]result, error)
	// backToBack cases take turns with the ceiling (see measureTogether).
	backToBack bool
}

// uncachedRunCap keeps the four runs of an uncached case within the pool
// of distinct tokens (about 12k reviews/s here, 100k tokens).
const uncachedRunCap = 2 * time.Second

func (c benchCase) duration(d time.Duration) time.Duration {
	if c.pooled {
		return min(d, uncachedRunCap)
	}
	return d
}

// result is one measured row.
type result struct {
	caseName string
	// variant tells apart the rows of one case at the same protocol and
	// concurrency (3f: empty cache, full cache); "" for most cases.
	variant string
	h2      bool
	conc    int
	// pooled: each token was sent once, so the server verified every one
	// (compared with kube-apiserver's row 5b, not its cached row 5).
	pooled bool
	run
	cpuUs float64 // server CPU µs per review (user+system, /proc/<pid>/stat)
	rss   float64 // MiB, summed over the case's processes
}

func repeated(body []byte) bodySource {
	return func(int64) ([]byte, bool) { return body, true }
}

func pooled(bodies [][]byte) bodySource {
	return func(i int64) ([]byte, bool) {
		if i >= int64(len(bodies)) {
			return nil, false
		}
		return bodies[i], true
	}
}

// cycled reuses a few prebuilt bodies, so the load client does not spend
// the shared CPU building requests.
func cycled(bodies [][]byte) bodySource {
	return func(i int64) ([]byte, bool) { return bodies[i%int64(len(bodies))], true }
}

func unknownIssuerBodies() [][]byte {
	out := make([][]byte, 1000)
	for i := range out {
		out[i] = reviewBody(unknownIssuerToken(int64(i)))
	}
	return out
}

// unknownIssuerToken is well-formed and unsigned: rejected on its iss.
func unknownIssuerToken(i int64) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","kid":"k"}`)) + "." + enc([]byte(fmt.Sprintf(`{"iss":"https://nobody-%d.example","sub":"x"}`, i%1000))) + "." + enc([]byte("sig"))
}

// randomKidToken names the hub as issuer with a kid it never had: each one
// is an unknown-kid lookup, the storm that must not become a fetch storm.
func randomKidToken(issuer string, i int64) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(fmt.Sprintf(`{"alg":"RS256","kid":"storm-%d-%d"}`, time.Now().UnixNano(), i))) + "." +
		enc([]byte(`{"iss":"`+issuer+`","sub":"system:serviceaccount:x:y","exp":4102444800}`)) + "." + enc([]byte("sig"))
}

func bodiesOf(tokens []string) [][]byte {
	out := make([][]byte, len(tokens))
	for i, t := range tokens {
		out[i] = reviewBody(t)
	}
	return out
}

// Cases 2b and 2c are case 2 with caller authorization on: a policy that
// grants the hub issuer by name, so every review's issuer is checked
// against the grant. In 2c the caller is its own service-account token,
// reviewed (and cached) by the same chain on every request. Case 1b is the
// ceiling sent 2c's Authorization header, which it ignores: the share of
// 2c's cost that is receiving a 1 KB credential over HTTP at all.
const (
	bearerCeilingCase = "1b ceiling, sent the bearer caller's Authorization header"
	certCallerCase    = "2b tokenfed, cached, certificate caller granted issuer hub"
	bearerCallerCase  = "2c tokenfed, cached, bearer caller (own token cached) granted issuer hub"
)

// Cases 2w and 3w are cases 2 and 3a on a tokenfed whose hub issuer has
// revocation watch (and an onFailure upstream, which these tokens never
// need): every review, cached or not, checks the token's ServiceAccount
// against the watched objects.
const (
	watchCachedCase   = "2w tokenfed watch, cached (one token repeated)"
	watchUncachedCase = "3w tokenfed watch, uncached RS256 (each token once)"
)

// Case 5b is kube-apiserver's own uncached path: kube-apiserver caches
// token results too (10 s), so row 5, one token repeated, is its cached
// path. Each 5b token is sent once, and case 7 (whose tokenfed asks the
// same kube-apiserver) draws from the same counter, so neither reaches
// kube-apiserver's cache with a token the other sent.
const kubeDistinctCase = "5b kube-apiserver TokenReview, distinct tokens (each token once)"

// cases builds every case; pools of distinct tokens back the uncached ones.
func (e *env) cases(rsPool, esPool [][]byte, valid []byte) []benchCase {
	tf := e.tokenfed.URL + "/apis/authentication.k8s.io/v1/tokenreviews"
	up := e.upstreamTF.URL + "/apis/authentication.k8s.io/v1/tokenreviews"
	watch := e.watchTF.URL + "/apis/authentication.k8s.io/v1/tokenreviews"
	cl := e.callersTF.URL + "/apis/authentication.k8s.io/v1/tokenreviews"
	apiserver := e.hub.URL + "/apis/authentication.k8s.io/v1/tokenreviews"
	return []benchCase{
		{name: "1 ceiling: trivial HTTPS TokenReview handler", url: e.echoURL, tls: e.tfTLS, bodies: repeated(valid), server: []string{"echo"}, backToBack: true},
		{name: bearerCeilingCase, url: e.echoURL, tls: e.tfTLS, authorization: "Bearer " + e.callerToken, bodies: repeated(valid), server: []string{"echo"}, backToBack: true},
		{name: "2 tokenfed, cached (one token repeated)", url: tf, tls: e.tfTLS, bodies: repeated(valid), server: []string{"tokenfed"}, backToBack: true},
		{name: certCallerCase, url: cl, tls: e.callersTLS, bodies: repeated(valid), server: []string{"tokenfed-callers"}, backToBack: true},
		{name: bearerCallerCase, url: cl, tls: e.bearerTLS, authorization: "Bearer " + e.callerToken, bodies: repeated(valid), server: []string{"tokenfed-callers"}, backToBack: true},
		{name: watchCachedCase, url: watch, tls: e.watchTLS, bodies: repeated(valid), server: []string{"tokenfed-watch"}, backToBack: true},
		{name: "3a tokenfed, uncached RS256 (each token once)", url: tf, tls: e.tfTLS, bodies: pooled(rsPool), server: []string{"tokenfed"}, pooled: true},
		{name: watchUncachedCase, url: watch, tls: e.watchTLS, bodies: pooled(rsPool), server: []string{"tokenfed-watch"}, pooled: true},
		{name: "3b tokenfed, uncached ES256 (each token once)", url: tf, tls: e.tfTLS, bodies: pooled(esPool), server: []string{"tokenfed"}, pooled: true},
		{name: cacheFillCase, custom: func(ctx context.Context, d time.Duration) ([]result, error) {
			return e.measureCacheFill(ctx, rsPool, d)
		}},
		{name: "4a tokenfed, garbage tokens", url: tf, tls: e.tfTLS, bodies: repeated(reviewBody("garbage-not-a-token")), server: []string{"tokenfed"}},
		{name: "4b tokenfed, unknown issuer", url: tf, tls: e.tfTLS, bodies: cycled(unknownIssuerBodies()), server: []string{"tokenfed"}},
		{name: "5 kube-apiserver TokenReview, direct", url: apiserver, tls: e.hubTLS, bodies: repeated(valid), server: []string{"kube-apiserver"}},
		{name: kubeDistinctCase, url: apiserver, tls: e.hubTLS, bodies: pooled(rsPool), server: []string{"kube-apiserver"}, pooled: true, onceAt: "kube-apiserver"},
		{name: "6 kubectl proxy -> kube-apiserver", url: e.proxyURL, bodies: repeated(valid), server: []string{"kubectl proxy", "kube-apiserver"}, noH2: true},
		{name: "7 tokenfed, upstream policy always (each token once)", url: up, tls: e.upTLS, bodies: pooled(rsPool), server: []string{"tokenfed-upstream", "kube-apiserver"}, pooled: true, onceAt: "kube-apiserver"},
	}
}

func (c *benchCase) target() target {
	return target{url: c.url, tls: c.tls, bodies: c.bodies, authorization: c.authorization}
}

// measure runs one case at one protocol and concurrency.
func (e *env) measure(c *benchCase, h2 bool, conc int, d time.Duration) (result, error) {
	rs, err := e.measureTogether([]*benchCase{c}, h2, conc, d, 1)
	if err != nil {
		return result{}, err
	}
	return rs[0], nil
}

// togetherSlices is how many turns each case of a back-to-back group takes.
const togetherSlices = 6

// measureTogether runs cases at one protocol and concurrency, taking turns
// in slices of d/slices, each on its own client kept across its slices
// (its connections stay open, as in one run). Each case's figures sum its
// slices: requests over time spent, and its servers' CPU time while it ran.
// Taking turns, every case sees the same mix of whatever else the machine
// is doing.
func (e *env) measureTogether(cs []*benchCase, h2 bool, conc int, d time.Duration, slices int) ([]result, error) {
	clients := make([]*http.Client, len(cs))
	for i, c := range cs {
		clients[i] = client(c.target(), h2, conc)
	}
	runs := make([]run, len(cs))
	cpu := make([]float64, len(cs))
	for range slices {
		for i, c := range cs {
			before, err := e.cpu(c.server)
			if err != nil {
				return nil, err
			}
			r := loadWith(clients[i], c.target(), conc, d/time.Duration(slices), c.next)
			after, err := e.cpu(c.server)
			if err != nil {
				return nil, err
			}
			runs[i], cpu[i] = runs[i].merge(r), cpu[i]+after-before
		}
	}
	out := make([]result, len(cs))
	for i, c := range cs {
		res := result{caseName: c.name, h2: h2, conc: conc, pooled: c.pooled, run: runs[i]}
		res.lat = nil
		if res.requests > 0 {
			res.cpuUs = cpu[i] / float64(res.requests) * 1e6
		}
		for _, name := range c.server {
			res.rss += rssMiB(e.pids[name])
		}
		out[i] = res
	}
	return out, nil
}

func (e *env) cpu(names []string) (float64, error) {
	total := 0.0
	for _, n := range names {
		s, err := cpuSeconds(e.pids[n])
		if err != nil {
			return 0, fmt.Errorf("%s: %w", n, err)
		}
		total += s
	}
	return total, nil
}
