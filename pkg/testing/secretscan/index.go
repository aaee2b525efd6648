package secretscan

import (
	"bytes"
	"strings"
)

const (
	// MinMatch is what counts as a recognisable part of a token: any run of
	// this many of its bytes, wherever it starts.
	MinMatch = 24
	// minSegment: a segment (header, payload, signature) at least this
	// long is a leak even when shorter than MinMatch (a bare {"alg":"RS256"}
	// header is 20 bytes). Shorter ones are ordinary words.
	minSegment = 16
	// window bytes at every stride-th offset of each token are indexed.
	// Any MinMatch bytes of a token contain one whole indexed window
	// because window+stride-1 <= MinMatch; indexing every offset would
	// cost stride times the memory.
	window = 16
	stride = 8
)

// ref is where an indexed window sits: token number and byte offset.
type ref struct{ tok, off int32 }

// index finds tokens in lines.
type index struct {
	tokens  []token
	windows map[string][]ref
	short   []shortSegment
}

// shortSegment is a segment of [minSegment, MinMatch) bytes, searched for
// whole.
type shortSegment struct {
	value []byte
	tok   int32
	off   int32
}

func newIndex(tokens []token) *index {
	idx := &index{tokens: tokens, windows: map[string][]ref{}}
	for i, t := range tokens {
		idx.addWindows(int32(i), t.value)
		idx.addShortSegments(int32(i), t.value)
	}
	return idx
}

func (idx *index) addWindows(tok int32, v string) {
	for off := 0; off+window <= len(v); off += stride {
		w := v[off : off+window]
		refs := idx.windows[w]
		// One offset per token is enough: the match is extended from it.
		if n := len(refs); n > 0 && refs[n-1].tok == tok {
			continue
		}
		idx.windows[w] = append(refs, ref{tok, int32(off)})
	}
}

func (idx *index) addShortSegments(tok int32, v string) {
	off := 0
	for _, seg := range strings.Split(v, ".") {
		if len(seg) >= minSegment && len(seg) < MinMatch {
			idx.short = append(idx.short, shortSegment{[]byte(seg), tok, int32(off)})
		}
		off += len(seg) + 1
	}
}

// match is the part of a token found in one line: token bytes
// [start, end), at line bytes [at, at+end-start).
type match struct {
	tok        int32
	start, end int
	at         int
}

// within: m is a part of what o already explains, in the same place of
// the line. Tokens of one cluster share long runs (header, issuer,
// audience), so a leak of one token also matches parts of its siblings.
func (m match) within(o match) bool {
	return o.tok != m.tok && o.end-o.start > m.end-m.start &&
		o.at <= m.at && m.at+m.end-m.start <= o.at+o.end-o.start
}

// find returns, per token, the longest part of it that line holds.
// Nearly every line holds nothing, so nothing is allocated until a hit.
func (idx *index) find(line []byte) []match {
	var found map[int32]match
	// covered[tok] is where in line the last match of tok ended: windows
	// inside it need no second look.
	var covered map[int32]int
	for i := 0; i+window <= len(line); i++ {
		for _, r := range idx.windows[string(line[i:i+window])] {
			if i+window <= covered[r.tok] {
				continue
			}
			m, lineEnd := idx.extend(line, i, r)
			if m.end-m.start >= MinMatch {
				found = keepLonger(found, m)
				if covered == nil {
					covered = map[int32]int{}
				}
				covered[r.tok] = lineEnd
			}
		}
	}
	for _, s := range idx.short {
		if at := bytes.Index(line, s.value); at >= 0 {
			found = keepLonger(found, match{s.tok, int(s.off), int(s.off) + len(s.value), at})
		}
	}
	return unexplained(found)
}

// unexplained drops the matches that a longer match of another token
// covers.
func unexplained(found map[int32]match) []match {
	var out []match
	for _, m := range found {
		explained := false
		for _, o := range found {
			explained = explained || m.within(o)
		}
		if !explained {
			out = append(out, m)
		}
	}
	return out
}

// extend grows the window of r found at line[i:] both ways while line and
// token agree.
func (idx *index) extend(line []byte, i int, r ref) (match, int) {
	v := idx.tokens[r.tok].value
	off := int(r.off)
	left := 0
	for i-left > 0 && off-left > 0 && line[i-left-1] == v[off-left-1] {
		left++
	}
	right := window
	for i+right < len(line) && off+right < len(v) && line[i+right] == v[off+right] {
		right++
	}
	return match{r.tok, off - left, off + right, i - left}, i + right
}

func keepLonger(found map[int32]match, m match) map[int32]match {
	if found == nil {
		found = map[int32]match{}
	}
	if old, ok := found[m.tok]; !ok || m.end-m.start > old.end-old.start {
		found[m.tok] = m
	}
	return found
}
