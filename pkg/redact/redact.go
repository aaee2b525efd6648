// Package redact keeps tokens out of text that leaves tokenfed: answers,
// logs and errors. Errors come from the whole chain and the libraries under
// it (the OIDC authenticator, go-jose, CEL, client-go), some of which quote
// what they were given; tokenfed's client gets text from whatever server it
// is pointed at.
package redact

import (
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Withheld replaces a message that could quote the token.
const Withheld = "token rejected; the reason was withheld as it could quote the token"

const (
	// MinToken is the shortest token whose partial quotes Scrub looks for.
	// A shorter one counts only whole: its parts are parts of ordinary
	// words, and a message that does not hold all of it says nothing of it
	// (such tokens are garbage; the reasons they get are worth keeping).
	MinToken = 8
	// maxWindow is the longest quote of a token that may go unnoticed,
	// plus one: any maxWindow bytes of a long token are caught.
	maxWindow = 16
)

// Window is the length of the shortest quote of a token of n bytes that
// Quotes catches: half the token, at least MinToken and at most 16 bytes;
// a token shorter than MinToken only whole.
func Window(n int) int {
	return min(n, maxWindow, max(MinToken, n/2))
}

// Scrub returns msg unless it could quote token, and Withheld if it could:
// if msg holds Window(len(token)) consecutive bytes of it, or all of a
// token shorter than MinToken (see Quotes). This is the last
// place that knows the token before msg goes into an answer, an error or a
// log. It is cheap for the usual message: one pass over the token and one
// over msg, and a window comparison only where msg has a run of at least
// Window bytes that all occur in the token, which plain words next to a
// base64 token do not make.
func Scrub(msg, token string) string {
	switch {
	case msg == "" || token == "":
		return msg
	case Quotes(msg, token):
		return Withheld
	}
	return msg
}

// Quotes reports whether text holds Window(len(token)) consecutive bytes
// of token, whatever the bytes are ('.', '+', '/' and '~' split nothing),
// as they are or as the token appears escaped in Go's %q, in JSON, or in a
// URL's query or path. A token shorter than MinToken counts only whole. It
// takes time linear in text and token: the windows of the smaller side are
// indexed and the other side's are looked up, by a rolling 64-bit hash, so
// a collision is a false alarm and a real quote is never missed.
func Quotes(text, token string) bool {
	if token == "" {
		return false
	}
	k := Window(len(token))
	if len(text) < k {
		return false
	}
	// The usual message is words shorter than a window, and the usual
	// token has no space to join words into one.
	if longestWord(text) < k && strings.IndexByte(token, ' ') < 0 {
		return false
	}
	var in [256]bool
	escaped := byte(0)
	for i := 0; i < len(token); i++ {
		in[token[i]] = true
		escaped |= notPlain[token[i]]
	}
	var buf [5]string
	forms := append(buf[:0], token)
	if escaped != 0 {
		forms = spellings(forms, token)
		for _, f := range forms[1:] {
			for i := 0; i < len(f); i++ {
				in[f[i]] = true
			}
		}
	}
	// A window of a spelling is made of its bytes: only runs of those in
	// text can hold one.
	var runs []string
	for start := 0; start < len(text); {
		end := start
		for end < len(text) && in[text[end]] {
			end++
		}
		if end-start >= k {
			runs = append(runs, text[start:end])
		}
		start = end + 1
	}
	return len(runs) > 0 && shareWindow(runs, forms, k)
}

// spellings appends each distinct escaped form of token to forms, which
// holds token.
func spellings(forms []string, token string) []string {
	quoted := strconv.Quote(token)
	js, _ := json.Marshal(token) // a string always marshals
	for _, f := range []string{
		quoted[1 : len(quoted)-1],
		string(js[1 : len(js)-1]),
		url.QueryEscape(token),
		url.PathEscape(token),
	} {
		if !slices.Contains(forms, f) {
			forms = append(forms, f)
		}
	}
	return forms
}

// notPlain is 1 for a byte that one of spellings' escapes may change:
// anything but letters, digits, '-', '.', '_' and '~'. Most tokens (a JWT,
// base64url, hex) have none, and are spelled the same in all of them.
var notPlain = func() (t [256]byte) {
	for c := range t {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			t[c] = 1
		}
	}
	return t
}()

// longestWord is the length of the longest run of text without a space.
func longestWord(text string) int {
	longest := 0
	for text != "" {
		i := strings.IndexByte(text, ' ')
		if i < 0 {
			i = len(text)
		}
		longest = max(longest, i)
		text = text[min(i+1, len(text)):]
	}
	return longest
}

// shareWindow reports whether some k bytes occur in a string of a and in a
// string of b. It indexes the windows of the smaller side in a sorted
// slice and scans the other's.
func shareWindow(a, b []string, k int) bool {
	if size(a) > size(b) {
		a, b = b, a
	}
	r := newRoller(k)
	var idx windowIndex
	for _, s := range a {
		r.each(s, func(h uint64) bool { idx.add(h); return true })
	}
	idx.seal()
	found := false
	for _, s := range b {
		r.each(s, func(h uint64) bool {
			found = idx.has(h)
			return !found
		})
		if found {
			return true
		}
	}
	return false
}

func size(ss []string) int {
	n := 0
	for _, s := range ss {
		n += len(s)
	}
	return n
}

// roller hashes each k-byte window of a string, rolled from the last in
// constant time (a polynomial hash modulo 2^64 with an odd base).
type roller struct {
	k   int
	out uint64 // base^k: the weight of the byte leaving a window
}

// rollBase is the FNV-64 prime: odd, so a window's hash changes whenever
// one of its bytes does.
const rollBase = 1099511628211

func newRoller(k int) roller {
	out := uint64(1)
	for range k {
		out *= rollBase
	}
	return roller{k: k, out: out}
}

// each calls yield with the hash of each k-byte window of s, until it
// returns false.
func (r roller) each(s string, yield func(uint64) bool) {
	var h uint64
	for i := range len(s) {
		h = h*rollBase + uint64(s[i])
		if i >= r.k {
			h -= r.out * uint64(s[i-r.k])
		}
		if i >= r.k-1 && !yield(mix(h)) {
			return
		}
	}
}

// mix spreads the hash's entropy into its low bits, which the filter uses
// (murmur3's 64-bit finaliser; a bijection, so it changes no equality).
func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h
}

// windowIndex is a sorted set of window hashes behind a 256-bit filter,
// which turns most lookups away without a search.
type windowIndex struct {
	filter [4]uint64
	hashes []uint64
}

func (x *windowIndex) add(h uint64) {
	x.filter[h>>62] |= 1 << (h & 63)
	x.hashes = append(x.hashes, h)
}

func (x *windowIndex) seal() { slices.Sort(x.hashes) }

func (x *windowIndex) has(h uint64) bool {
	if x.filter[h>>62]&(1<<(h&63)) == 0 {
		return false
	}
	_, ok := slices.BinarySearch(x.hashes, h)
	return ok
}
