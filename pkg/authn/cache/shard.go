package cache

import (
	"container/list"
	"sync"
	"time"
)

// shard is one LRU with per-entry expiry, guarded by its own lock.
type shard struct {
	mu      sync.Mutex
	max     int
	entries map[[32]byte]*list.Element
	lru     *list.List // front = most recently used
}

type entry struct {
	key     [32]byte
	result  Result
	expires time.Time
}

func newShard(max int) *shard {
	return &shard{max: max, entries: make(map[[32]byte]*list.Element), lru: list.New()}
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
	s.lru.MoveToFront(el)
	return e.result, true
}

// set stores a result and reports whether an entry was evicted for room.
func (s *shard) set(key [32]byte, r Result, expires time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.entries[key]; ok {
		e := el.Value.(*entry)
		e.result, e.expires = r, expires
		s.lru.MoveToFront(el)
		return false
	}
	s.entries[key] = s.lru.PushFront(&entry{key: key, result: r, expires: expires})
	if s.lru.Len() <= s.max {
		return false
	}
	s.removeElement(s.lru.Back())
	return true
}

func (s *shard) removeElement(el *list.Element) {
	s.lru.Remove(el)
	delete(s.entries, el.Value.(*entry).key)
}

func (s *shard) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}
