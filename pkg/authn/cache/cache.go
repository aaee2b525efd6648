// Package cache is the result cache in front of every issuer. It follows
// k8s.io/apiserver/pkg/authentication/token/cache (HMAC keys with a
// per-process random key, striping, singleflight) and adds what that cache
// cannot do and tokenfed needs: a bound on entries with LRU eviction, a
// success TTL capped at the token's own exp, and results that must not be
// cached at all (cheap rejections, outages).
package cache

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sync/singleflight"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/utils/clock"
)

// Result is one authentication outcome as the cache sees it.
type Result struct {
	Response *authenticator.Response
	OK       bool
	Err      error
	// Expiry caps the success TTL; zero means "no exp known".
	Expiry time.Time
	// NoCache keeps the result out of the cache: cheap rejections that
	// would only let garbage evict real entries, and transient faults.
	NoCache bool
	// Revalidate, when set on an authenticated result, is asked on every
	// hit whether the answer still holds; when it does not, the hit counts
	// as a miss and the token is reviewed anew. It lets an answer be cached
	// for the success TTL and still be withdrawn at once when what it
	// depends on goes away (a deleted ServiceAccount or Pod, see package
	// revocation). It must be cheap: it runs on every hit.
	Revalidate Revalidator
}

// Revalidator re-checks a cached authenticated answer.
type Revalidator interface {
	// StillValid reports whether the answer may be served again at now,
	// the cache's clock reading for the lookup.
	StillValid(now time.Time) bool
}

// usable says whether a cached result may be served at now.
func (r *Result) usable(now time.Time) bool {
	return !r.OK || r.Revalidate == nil || r.Revalidate.StillValid(now)
}

// AuthenticateFunc computes a result on a cache miss.
type AuthenticateFunc func(ctx context.Context, token string) Result

// Options configure a Cache.
type Options struct {
	SuccessTTL, FailureTTL time.Duration
	// MaxEntries bounds authenticated answers; rejections get a quarter
	// as many more, in a segment of their own.
	MaxEntries int
	Clock      clock.PassiveClock
	Metrics    *Metrics
}

// Cache is an authenticator.Token that caches an AuthenticateFunc.
type Cache struct {
	next   AuthenticateFunc
	opts   Options
	shards []*shard
	// epoch is when the cache was made: entries expire in nanoseconds
	// since it, which keeps the monotonic clock's order (a wall clock set
	// back does not lengthen a TTL) in 8 bytes instead of a time.Time's 24.
	epoch    time.Time
	group    singleflight.Group
	hashPool sync.Pool
}

var _ authenticator.Token = &Cache{}

const shardCount = 32

// failedShare: rejections are bounded to 1/failedShare of MaxEntries, on
// top of it (see shard).
const failedShare = 4

// New returns a cache in front of next.
func New(next AuthenticateFunc, opts Options) *Cache {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails on Linux ≥ 3.17
	c := &Cache{next: next, opts: opts, shards: make([]*shard, shardCount), epoch: opts.Clock.Now()}
	c.hashPool.New = func() any { return &keyHash{Hash: hmac.New(sha256.New, key)} }
	perShard := max(1, opts.MaxEntries/shardCount)
	for i := range c.shards {
		c.shards[i] = newShard(perShard, max(1, perShard/failedShare))
	}
	return c
}

// AuthenticateToken implements authenticator.Token.
func (c *Cache) AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	auds, _ := authenticator.AudiencesFrom(ctx)
	key := c.keyFor(auds, token)
	now := c.opts.Clock.Now()
	if r, ok := c.shardFor(key).get(key, c.since(now)); ok && r.usable(now) {
		c.opts.Metrics.hit()
		return r.Response, r.OK, r.Err
	}
	c.opts.Metrics.miss()
	r := c.compute(ctx, auds, key, token)
	return r.Response, r.OK, r.Err
}

// LookupAuthenticated returns the cached authenticated answer for token
// and auds, if there is one, and counts it as a hit. It computes nothing
// and counts nothing otherwise (a miss, or a cached failure): the review
// that follows then counts its own lookup. It lets a caller's grant be
// checked against the issuer of the answer the review would get.
func (c *Cache) LookupAuthenticated(auds authenticator.Audiences, token string) (*authenticator.Response, bool) {
	key := c.keyFor(auds, token)
	now := c.opts.Clock.Now()
	r, ok := c.shardFor(key).get(key, c.since(now))
	if !ok || !r.OK || r.Err != nil || r.Response == nil || !r.usable(now) {
		return nil, false
	}
	c.opts.Metrics.hit()
	return r.Response, true
}

// compute runs next once for all concurrent identical lookups. The shared
// call must not die with the first caller's context, so it runs detached
// from cancellation but keeps the values (audiences, logger); the issuer
// and upstream timeouts bound it.
func (c *Cache) compute(ctx context.Context, auds authenticator.Audiences, key [32]byte, token string) Result {
	computed := false
	v, _, shared := c.group.Do(string(key[:]), func() (any, error) {
		computed = true
		r := c.next(context.WithoutCancel(ctx), token)
		c.store(key, r)
		return r, nil
	})
	// shared is also true for the caller that computed; count waiters only.
	if shared && !computed {
		c.opts.Metrics.coalesced()
	}
	return v.(Result)
}

func (c *Cache) store(key [32]byte, r Result) {
	if r.NoCache {
		return
	}
	now := c.opts.Clock.Now()
	ttl := c.opts.FailureTTL
	if r.OK && r.Err == nil {
		ttl = c.opts.SuccessTTL
		if !r.Expiry.IsZero() && r.Expiry.Sub(now) < ttl {
			ttl = r.Expiry.Sub(now)
		}
	}
	if ttl <= 0 {
		return
	}
	if evicted := c.shardFor(key).set(key, r, c.since(now), c.since(now.Add(ttl))); evicted {
		c.opts.Metrics.evicted()
	}
}

// keyHash is a pooled HMAC with room for a length prefix and a sum: a
// local buffer passed to an interface method would escape to the heap, an
// allocation per prefix on every lookup.
type keyHash struct {
	hash.Hash
	n   [8]byte
	sum [sha256.Size]byte
}

// keyFor is HMAC(audiences, token) with length prefixes, so that no
// (audiences, token) pair can collide with another by concatenation.
func (c *Cache) keyFor(auds authenticator.Audiences, token string) [32]byte {
	h := c.hashPool.Get().(*keyHash)
	defer c.hashPool.Put(h)
	h.Reset()
	h.writeLen(len(auds))
	for _, a := range auds {
		h.writeLenPrefixed(a)
	}
	h.writeLenPrefixed(token)
	return [32]byte(h.Sum(h.sum[:0]))
}

func (h *keyHash) writeLen(n int) {
	binary.BigEndian.PutUint64(h.n[:], uint64(n))
	h.Write(h.n[:])
}

func (h *keyHash) writeLenPrefixed(s string) {
	h.writeLen(len(s))
	// A hash neither keeps nor modifies its input, so the token's bytes are
	// lent to it instead of copied: a kilobyte per cache lookup otherwise.
	h.Write(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// since is t in nanoseconds since the cache's epoch.
func (c *Cache) since(t time.Time) int64 { return int64(t.Sub(c.epoch)) }

func (c *Cache) shardFor(key [32]byte) *shard {
	// The key is an HMAC: its bytes are uniformly distributed already.
	return c.shards[int(key[0])%shardCount]
}

// Len is the number of entries, for tests and the memory benchmark.
func (c *Cache) Len() int {
	n := 0
	for _, s := range c.shards {
		n += s.len()
	}
	return n
}
