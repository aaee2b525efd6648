package faults

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
)

// Figures of the forgery flood.
const (
	// floodCacheEntries is cache.maxEntries: authenticated answers get
	// that many places, rejections a quarter more in their own segment
	// (pkg/authn/cache).
	floodCacheEntries = 512
	// realTokens are reviewed again and again during the flood; they fit
	// the authenticated segment (16 per shard of 32) with room to spare.
	realTokens = 32
	// forgedPerKind tokens of each kind make the flood: forged signatures
	// (a signature check each, cached as rejections), tokens of an issuer
	// nobody trusts and garbage (both rejected without cryptography, not
	// cached). The forged signatures alone are 3 times maxEntries: in one
	// LRU they would have pushed every real answer out.
	forgedPerKind = 3 * floodCacheEntries
	// floodWorkers send the flood at once.
	floodWorkers = 8
	// minRealHitRate is the figure: every review of a real token during
	// the flood is a cache hit.
	minRealHitRate = 1.0
	// realReviewLatency bounds a real token's review during the flood: a
	// cache hit, however busy the process is with forgeries.
	realReviewLatency = time.Second
)

// TestForgeryFloodKeepsRealAnswers: a flood of forged tokens (bad
// signatures, an untrusted issuer, garbage), all distinct, while the same
// real tokens are reviewed again and again. Figures: the cache hit rate of
// the real tokens during the flood is minRealHitRate (every one a hit),
// each answered within realReviewLatency, although the forgeries evicted
// one another; every forgery is answered 200, authenticated: false.
func TestForgeryFloodKeepsRealAnswers(t *testing.T) {
	is := newIssuer(t, "edge")
	stranger := newIssuer(t, "stranger")
	tf := startTokenfed(t, v1alpha1.Configuration{
		Issuers: []v1alpha1.Issuer{is.config()},
		Cache:   v1alpha1.Cache{MaxEntries: floodCacheEntries},
	})
	real := make([]string, realTokens)
	for i := range real {
		real[i] = is.token(t, claims{})
		accepted(t, tf.mustReview(t, real[i]), is.username(), knownKeyLatency)
	}
	var forged []string
	for range forgedPerKind {
		forged = append(forged, forge(t, real[0]), stranger.token(t, claims{}), "garbage-"+randomHex())
	}

	hits0 := tf.metric(t, `tokenfed_cache_lookups_total{cache="reviews",result="hit"}`)
	evictions0 := tf.metric(t, `tokenfed_cache_evictions_total{cache="reviews"}`)
	var (
		realReviews, realBad atomic.Int64
		slowest              atomic.Int64
		floodDone            = make(chan struct{})
		realDone             = make(chan struct{})
		problems             = make(chan string, floodWorkers+1)
	)
	go func() {
		defer close(realDone)
		for round := 0; ; round++ {
			select {
			case <-floodDone:
				if round >= 3 {
					return
				}
			default:
			}
			for _, tok := range real {
				r, err := tf.review(tok)
				realReviews.Add(1)
				if err != nil || !r.status.Authenticated || r.latency > realReviewLatency {
					realBad.Add(1)
					problems <- fmt.Sprintf("real token: %v %s", err, r)
					return
				}
				for cur := slowest.Load(); int64(r.latency) > cur && !slowest.CompareAndSwap(cur, int64(r.latency)); cur = slowest.Load() {
				}
			}
		}
	}()
	start := time.Now()
	floodAll(tf, forged, problems)
	took := time.Since(start)
	close(floodDone)
	<-realDone
	close(problems)
	for p := range problems {
		t.Fatal(p)
	}

	hits := tf.metric(t, `tokenfed_cache_lookups_total{cache="reviews",result="hit"}`) - hits0
	evicted := tf.metric(t, `tokenfed_cache_evictions_total{cache="reviews"}`) - evictions0
	rate := hits / float64(realReviews.Load())
	// Forgeries are all distinct, so none can hit: every hit is a real
	// token's.
	if rate < minRealHitRate {
		t.Fatalf("got a hit rate of %.3f (%v hits / %d reviews) for real tokens during the flood, want %.3f", rate, hits, realReviews.Load(), minRealHitRate)
	}
	if evicted < forgedPerKind-floodCacheEntries/4 {
		t.Fatalf("got %v evictions, want the forged signatures (%d) to overflow their segment (%d)", evicted, forgedPerKind, floodCacheEntries/4)
	}
	tf.noServerFaults(t)
	t.Logf("%d forgeries (%d forged signatures, %d untrusted issuer, %d garbage) in %s, %v evictions among them; %d reviews of %d real tokens meanwhile: hit rate %.3f, slowest %s",
		len(forged), forgedPerKind, forgedPerKind, forgedPerKind, took.Round(time.Millisecond), evicted, realReviews.Load(), realTokens, rate,
		time.Duration(slowest.Load()).Round(time.Millisecond))
}

// floodAll reviews every token from floodWorkers goroutines; each must be
// answered 200, authenticated: false.
func floodAll(tf *tokenfed, tokens []string, problems chan<- string) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range floodWorkers {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(tokens)); i = next.Add(1) - 1 {
				r, err := tf.review(tokens[i])
				if err != nil || r.code != 200 || r.status.Authenticated || r.status.Error == "" {
					problems <- fmt.Sprintf("forgery: %v %s", err, r)
					return
				}
			}
		})
	}
	wg.Wait()
}
