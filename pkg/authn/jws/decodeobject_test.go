package jws

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// manyMembers is a JSON object of n members with distinct names of equal
// length, the worst case for a duplicate check that compares names
// pairwise.
func manyMembers(n int) []byte {
	var b strings.Builder
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%04x":0`, i)
	}
	b.WriteByte('}')
	return []byte(b.String())
}

// fastest is the least time fn takes over runs calls: the figure least
// disturbed by other work on a shared machine.
func fastest(runs int, fn func()) time.Duration {
	best := time.Duration(1<<63 - 1)
	for range runs {
		start := time.Now()
		fn()
		best = min(best, time.Since(start))
	}
	return best
}

// TestDecodeObjectIsLinearInMembers: a nested claim object is read from
// tokens nobody has verified yet (jwt.PeekRefs, on the way to an issuer's
// upstream), and a 16 KiB token holds about 1500 members in one. Checking
// their names for duplicates pairwise costs about a million comparisons,
// milliseconds of CPU per forged token, hundreds of signature checks'
// worth; go-jose's decoder, which the claims decoder stands in for, keeps a
// set. Four times the members must cost about four times as long, not
// sixteen.
func TestDecodeObjectIsLinearInMembers(t *testing.T) {
	small, large := manyMembers(400), manyMembers(1600)
	var room [12]Member
	decode := func(raw []byte) func() {
		return func() {
			if _, err := DecodeObject(raw, room[:]); err != nil {
				t.Fatal(err)
			}
		}
	}
	ts, tl := fastest(30, decode(small)), fastest(30, decode(large))
	ratio := float64(tl) / float64(ts)
	t.Logf("400 members: %v; 1600 members: %v (%.1f times)", ts, tl, ratio)
	if ratio > 8 {
		t.Fatalf("400 members take %v, 1600 take %v: %.1f times as long, want about 4 (at most 8)", ts, tl, ratio)
	}
}

// TestDecodeObjectRefusesDuplicatesAmongMany: the duplicate check holds
// however many members there are, and only exact duplicates count
// (go-jose matches nested names exactly).
func TestDecodeObjectRefusesDuplicatesAmongMany(t *testing.T) {
	for _, n := range []int{2, 32, 33, 1000} {
		raw := manyMembers(n)
		dup := append(raw[:len(raw)-1:len(raw)-1], []byte(`,"0000":1}`)...)
		if _, err := DecodeObject(dup, nil); !errors.Is(err, errDuplicateName) {
			t.Fatalf("%d members and a duplicate: got error %v, want %v", n, err, errDuplicateName)
		}
		folded := append(raw[:len(raw)-1:len(raw)-1], []byte(`,"X":1,"x":2}`)...)
		members, err := DecodeObject(folded, nil)
		if err != nil || len(members) != n+2 {
			t.Fatalf("%d members and two names differing in case: got %d members, error %v; want %d, none", n, len(members), err, n+2)
		}
	}
}
