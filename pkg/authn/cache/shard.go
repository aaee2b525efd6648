package cache

import (
	"container/list"
	"sync"
	"time"
)

// shard is one cache stripe with per-entry expiry, guarded by its own
// lock. Authenticated answers and failures live in separate LRU segments,
// each with its own bound: a failure can only evict another failure. A
// failure costs its sender nothing to cause (any forged signature is one),
// so without the split a flood of forgeries would push every real answer
// out, and each real review would pay for its verification (or its
// upstream call) again.
type shard struct {
	mu      sync.Mutex
	entries map[[32]byte]*list.Element
	// authenticated and failed are the two segments: front = most
	// recently used.
	authenticated, failed segment
}

// segment is one LRU list and its bound.
type segment struct {
	max int
	lru *list.List
}

type entry struct {
	key     [32]byte
	result  Result
	expires time.Time
	seg     *segment
}

func newShard(maxAuthenticated, maxFailed int) *shard {
	return &shard{
		entries:       make(map[[32]byte]*list.Element),
		authenticated: segment{max: maxAuthenticated, lru: list.New()},
		failed:        segment{max: maxFailed, lru: list.New()},
	}
}

func (s *shard) get(key [32]byte, now time.Time) (Result, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.entries[key]
	if !ok {
		return Result{}, false
	}
	e := el.Value.(*entry)
	if !now.Before(e.expires) {
		s.removeElement(el)
		return Result{}, false
	}
	e.seg.lru.MoveToFront(el)
	return e.result, true
}

// set stores a result in its segment and reports whether an entry was
// evicted for room.
func (s *shard) set(key [32]byte, r Result, expires time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.entries[key]; ok {
		s.removeElement(el)
	}
	seg := &s.failed
	if r.OK && r.Err == nil {
		seg = &s.authenticated
	}
	s.entries[key] = seg.lru.PushFront(&entry{key: key, result: r, expires: expires, seg: seg})
	if seg.lru.Len() <= seg.max {
		return false
	}
	s.removeElement(seg.lru.Back())
	return true
}

func (s *shard) removeElement(el *list.Element) {
	e := el.Value.(*entry)
	e.seg.lru.Remove(el)
	delete(s.entries, e.key)
}

func (s *shard) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}
