package cache

import (
	"encoding/binary"
	"sync"

	"k8s.io/apiserver/pkg/authentication/authenticator"
)

// shard is one cache stripe with per-entry expiry, guarded by its own
// lock. Authenticated answers and failures live in separate LRU segments,
// each with its own bound: a failure can only evict another failure. A
// failure costs its sender nothing to cause (any forged signature is one),
// so without the split a flood of forgeries would push every real answer
// out, and each real review would pay for its verification (or its
// upstream call) again.
//
// An entry is one allocation of 112 bytes with its LRU links inside it,
// indexed by the first 8 bytes of its key (the rest are compared on
// lookup): with the interned identities (mapping.Interner) a cached token
// costs about 300 bytes of heap, and few pointers for the GC to trace.
type shard struct {
	mu      sync.Mutex
	entries map[uint64]*entry
	// authenticated and failed are the two segments.
	authenticated, failed segment
}

// segment is one LRU list, most recently used first, and its bound.
type segment struct {
	max, len int
	// head is the list's sentinel: head.next is the most recently used.
	head entry
}

type entry struct {
	key        [32]byte
	prev, next *entry
	seg        *segment
	// expires is in nanoseconds since the cache's epoch.
	expires    int64
	response   *authenticator.Response
	err        error
	revalidate Revalidator
	ok         bool
}

func newShard(maxAuthenticated, maxFailed int) *shard {
	s := &shard{entries: make(map[uint64]*entry)}
	s.authenticated.init(maxAuthenticated)
	s.failed.init(maxFailed)
	return s
}

func (g *segment) init(max int) {
	g.max = max
	g.head.prev, g.head.next = &g.head, &g.head
}

func (g *segment) pushFront(e *entry) {
	e.seg, e.prev, e.next = g, &g.head, g.head.next
	g.head.next.prev = e
	g.head.next = e
	g.len++
}

func (g *segment) remove(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
	g.len--
}

func index(key [32]byte) uint64 { return binary.LittleEndian.Uint64(key[8:]) }

// get looks key up at now, in nanoseconds since the cache's epoch.
func (s *shard) get(key [32]byte, now int64) (Result, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[index(key)]
	if !ok || e.key != key {
		return Result{}, false
	}
	if now >= e.expires {
		s.removeEntry(e)
		return Result{}, false
	}
	e.seg.remove(e)
	e.seg.pushFront(e)
	return Result{Response: e.response, OK: e.ok, Err: e.err, Revalidate: e.revalidate}, true
}

// sweepPerSet is how many expired entries each set drops from the least
// recently used end of each segment. Without it an expired answer would
// stay until the same token came again or the segment filled up, so
// under a steady stream of distinct tokens the cache would grow to
// maxEntries of mostly expired answers; with it, it holds about rate ×
// TTL. Two keeps ahead of one new entry per set.
const sweepPerSet = 2

// set stores a result in its segment at now (nanoseconds since the
// cache's epoch), first dropping expired entries (sweepPerSet), and
// reports whether an entry was evicted for room. An entry whose index
// another key shares (a 2^-64 chance) is replaced.
func (s *shard) set(key [32]byte, r Result, now, expires int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(&s.authenticated, now)
	s.sweep(&s.failed, now)
	if old, ok := s.entries[index(key)]; ok {
		s.removeEntry(old)
	}
	seg := &s.failed
	if r.OK && r.Err == nil {
		seg = &s.authenticated
	}
	e := &entry{key: key, expires: expires, response: r.Response, err: r.Err, revalidate: r.Revalidate, ok: r.OK}
	s.entries[index(key)] = e
	seg.pushFront(e)
	if seg.len <= seg.max {
		return false
	}
	s.removeEntry(seg.head.prev)
	return true
}

// sweep drops up to sweepPerSet expired entries from g's least recently
// used end. Entries expire in roughly the order they were last used (TTLs
// are capped alike), so the end is where expired ones gather.
func (s *shard) sweep(g *segment, now int64) {
	for range sweepPerSet {
		last := g.head.prev
		if last == &g.head || last.expires > now {
			return
		}
		s.removeEntry(last)
	}
}

func (s *shard) removeEntry(e *entry) {
	e.seg.remove(e)
	delete(s.entries, index(e.key))
}

func (s *shard) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}
