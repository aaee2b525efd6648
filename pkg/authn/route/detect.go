package route

import (
	"github.com/tokenfed/tokenfed/pkg/authn/jws"

	"bytes"
	"encoding/base64"
	"net/url"
	"strings"
)

const (
	// maxNesting bounds how many encodings deep a search decodes: a JWT
	// base64-encoded, hex-encoded and base64-encoded again is still found.
	maxNesting = 3
	// minText is the shortest decoded text searched again: 8 base64
	// characters are the fewest that encode the start of a JSON object.
	minText = 8
	// searchBudget bounds the bytes one search decodes and scans: a random
	// token of jws.MaxTokenBytes with separators costs about 18 of them per
	// byte. A crafted token could otherwise make nested decodings of many
	// views cost seconds.
	searchBudget = 24 * jws.MaxTokenBytes
)

// ContainsJWT reports whether s contains the base64 (either alphabet) of a
// JWT's header or payload: anywhere in s, in s with its non-base64
// characters dropped or a separator inserted every few characters removed,
// in any letter case, and in text that s decodes to (base64, base32 or hex,
// up to maxNesting encodings deep). A string too costly to search is
// reported as containing one: it is no real opaque token.
func ContainsJWT(s string) bool {
	return newSearch().in(s, maxNesting)
}

// A search looks for a JWT in a string and in what it decodes to, within a
// budget of bytes decoded and scanned.
type search struct {
	budget int
	// searched holds the strings searched already, with one more than the
	// depth they were searched to: views overlap, so one text is often
	// decoded from several of them.
	searched map[string]int
}

func newSearch() *search { return &search{budget: searchBudget, searched: map[string]int{}} }

func (sc *search) spend(n int) bool {
	sc.budget -= n
	return sc.budget >= 0
}

func (sc *search) exhausted() bool { return sc.budget < 0 }

// in searches every view of s, up to depth further encodings deep.
func (sc *search) in(s string, depth int) bool {
	if sc.searched[s] > depth {
		return false
	}
	sc.searched[s] = depth + 1
	vs := views(s)
	if !sc.spend(len(vs) * len(s)) {
		return true
	}
	for _, v := range vs {
		for _, run := range base64Runs(v) {
			if sc.inRun(run, depth) {
				return true
			}
		}
	}
	return false
}

// inRun looks for an encoded object at every base64 alignment of run (a
// segment glued after other characters starts anywhere), and searches the
// text that run decodes to.
func (sc *search) inRun(run string, depth int) bool {
	// Folding, four decodings and their scans, the hex and base32 scans.
	if !sc.spend(8 * len(run)) {
		return true
	}
	if foldedObjectStart(run) {
		return true
	}
	buf := make([]byte, 0, len(run)*3/4+2)
	for a := 0; a < 4 && a < len(run); a++ {
		buf = jws.DecodeLenient(buf[:0], run[a:])
		if hasObjectStart(buf) || depth > 0 && sc.inText(buf, depth-1) {
			return true
		}
	}
	return depth > 0 && (sc.inHex(run, depth-1) || sc.inBase32(run, depth-1))
}

// inText searches every stretch of text in decoded bytes: a token encoded
// once more decodes to it, with whatever line breaks the encoder kept
// (`base64 -w0` of a token file ends in an encoded newline). Text in
// UTF-16, as .NET and PowerShell encode strings before base64, is searched
// without its NUL bytes.
func (sc *search) inText(b []byte, depth int) bool {
	if nul := bytes.Count(b, []byte{0}); nul > 0 && 3*nul >= len(b) {
		b = bytes.ReplaceAll(b, []byte{0}, nil)
	}
	for _, t := range runsOf(b, clsText, minText) {
		if sc.in(string(t), depth) {
			return true
		}
	}
	return false
}

// inHex decodes long runs of hex digits, at both alignments: a hex dump
// of a token.
func (sc *search) inHex(run string, depth int) bool {
	for _, h := range runsOf(run, clsHex, 2*minText) {
		if !sc.spend(2 * len(h)) {
			return true
		}
		for a := 0; a < 2; a++ {
			if sc.inText(decodeHex(h[a:]), depth) {
				return true
			}
		}
	}
	return false
}

// inBase32 decodes long single-case runs of the base32 alphabet, at every
// alignment: `base32` of a token.
func (sc *search) inBase32(run string, depth int) bool {
	for _, cls := range []uint8{clsBase32Upper, clsBase32Lower} {
		for _, r := range runsOf(run, cls, minText*8/5) {
			if !sc.spend(8 * len(r)) {
				return true
			}
			r = strings.ToUpper(r)
			for a := 0; a < 8 && a < len(r); a++ {
				if sc.inText(decodeBase32(r[a:]), depth) {
					return true
				}
			}
		}
	}
	return false
}

// views are the spellings of s to search: s itself; its base64 characters
// alone, which rejoins a token cut up by '.', '~', line breaks or soft line
// breaks at any positions; s percent-decoded; and each of those without a
// separator inserted every few characters.
func views(s string) []string {
	out := []string{s}
	if joined := base64Only(s); joined != "" && len(joined) != len(s) {
		out = append(out, joined)
	}
	if strings.Contains(s, "%") {
		if u, err := url.PathUnescape(s); err == nil && u != s {
			out = append(out, u)
		}
	}
	for i, n := 0, len(out); i < n; i++ {
		out = append(out, unperiodic(out[i])...)
	}
	return out
}

const (
	// maxPeriod is the longest group unperiodic looks for. Tools group by
	// 2 to 8 characters; in longer groups the first, which starts the token,
	// holds its header whole, and line breaks are not base64 characters.
	maxPeriod = 16
	// maxPeriodicViews bounds unperiodic on a repetitive string, where
	// every period fits.
	maxPeriodicViews = 8
)

// unperiodic returns s without a character inserted after every n
// characters, for each n ≤ maxPeriod whose separator occurs at least three
// times: what a tool that groups text leaves ("-" every 4, "x" every 2).
// The first group may be shorter, when something was glued before. Separators outside the base64 alphabet need no such search: the
// base64-only view drops them wherever they are.
func unperiodic(s string) []string {
	var out []string
	for n := 1; n <= maxPeriod; n++ {
		for first := 1; first <= n && first+2*(n+1) < len(s); first++ {
			if len(out) == maxPeriodicViews {
				return out
			}
			if class[s[first]]&clsBase64 != 0 && periodic(s, first, n+1) {
				out = append(out, dropEvery(s, first, n+1))
			}
		}
	}
	return out
}

func periodic(s string, first, step int) bool {
	for i := first + step; i < len(s); i += step {
		if s[i] != s[first] {
			return false
		}
	}
	return true
}

func dropEvery(s string, first, step int) string {
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:first])
	for i := first + 1; i < len(s); i += step {
		b.WriteString(s[i:min(i+step-1, len(s))])
	}
	return b.String()
}

// base64Runs splits s into maximal runs of base64 characters of either
// alphabet; '=' padding, '.', and everything else separate runs. Runs
// shorter than foldedLen are left out: they cannot hold the start of an
// encoded object, nor encode text long enough to search again.
func base64Runs(s string) []string { return runsOf(s, clsBase64, foldedLen) }

func base64Only(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if class[s[i]]&clsBase64 != 0 {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// runsOf returns the maximal runs of s whose bytes are all of class cls,
// of at least minLen bytes.
func runsOf[T ~string | ~[]byte](s T, cls uint8, minLen int) []T {
	var out []T
	for start := 0; start < len(s); {
		end := start
		for end < len(s) && class[s[end]]&cls != 0 {
			end++
		}
		if end-start >= minLen {
			out = append(out, s[start:end])
		}
		start = end + 1
	}
	return out
}

// maxNameLen bounds the member name hasObjectStart accepts; JOSE and claim
// names are short, and a bound keeps random bytes from matching.
const maxNameLen = 256

// hasObjectStart finds, anywhere in b, how every JOSE header and claims set
// begins: '{', JSON whitespace, a quoted member name, JSON whitespace, ':'.
// The name may hold any byte JSON allows unescaped, not only ASCII: a
// claims set may start with a claim named in any script, and encoding/json
// (Peek, go-oidc) reads invalid UTF-8 too. Random bytes match about once in
// 10^9 positions.
func hasObjectStart(b []byte) bool {
	for i := bytes.IndexByte(b, '{'); i >= 0; {
		if memberAfterBrace(b[i+1:]) {
			return true
		}
		next := bytes.IndexByte(b[i+1:], '{')
		if next < 0 {
			return false
		}
		i += 1 + next
	}
	return false
}

func memberAfterBrace(b []byte) bool {
	b = bytes.TrimLeft(b, jsonSpace)
	if len(b) == 0 || b[0] != '"' {
		return false
	}
	for i := 1; i < len(b) && i <= maxNameLen; i++ {
		switch c := b[i]; {
		case c == '"':
			rest := bytes.TrimLeft(b[i+1:], jsonSpace)
			return len(rest) > 0 && rest[0] == ':'
		case c == '\\':
			i++
		case c < ' ':
			return false
		}
	}
	return false
}

// foldedLen is how many base64 characters foldedObjectStart compares: 8
// characters, 6 bytes, are the fewest that hold '{"' and a member name's
// start, and a random window matches one of the few thousand foldedStarts
// about 3 times in 10^9.
const foldedLen = 8

// foldedObjectStart finds, anywhere in run and without regard to letter
// case, the encoded start of a JOSE header or claims set that begins with a
// well-known member. A re-cased token is no longer valid, but its claims
// are still readable, so it must not reach another cluster either. Letter
// case carries one bit of every base64 character, so the object cannot be
// decoded; it can only be recognised.
func foldedObjectStart(run string) bool {
	var w [foldedLen]byte
	for i := 0; i+foldedLen <= len(run); i++ {
		// Most positions fail on their first two characters, without a map
		// lookup.
		if !foldedPairs[pairIndex(fold[run[i]], fold[run[i+1]])] {
			continue
		}
		for j := range w {
			w[j] = fold[run[i+j]]
		}
		if foldedStarts[string(w[:])] {
			return true
		}
	}
	return false
}

func pairIndex(a, b byte) int { return int(a)<<8 | int(b) }

// foldedStarts are the first foldedLen characters, case-folded, of the
// encodings of objects that begin with one of these names, with or without
// JSON whitespace around the '{'. Only the first four characters of a name
// count. Whitespace before the '{' only shifts it within a 3-byte group:
// whole groups of it encode to characters before the window, so zero, one
// and two bytes of it cover any amount.
var foldedStarts = func() map[string]bool {
	names := []string{
		// JOSE header members.
		"alg", "typ", "kid", "cty", "jku", "jwk", "x5u", "x5c", "x5t", "crit", "enc", "zip", "b64", "ppt", "url", "nonce",
		// Registered, OIDC and common provider claims.
		"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "azp", "email", "name", "groups", "kubernetes.io",
		"at_hash", "c_hash", "auth_time", "acr", "amr", "sid", "scope", "scp", "client_id", "cid", "uid", "ver",
		"tid", "oid", "upn", "roles", "preferred_username", "given_name", "family_name", "realm_access",
		"resource_access", "act", "cnf", "appid", "idp", "session_state", "https://", "http://",
	}
	before := []string{""}
	for _, a := range jsonSpace {
		before = append(before, string(a))
		for _, b := range jsonSpace {
			before = append(before, string(a)+string(b))
		}
	}
	after := []string{"", " ", "\n", "\n ", "\n  ", "\n    ", "\n\t", "\r\n", "\t"}
	m := map[string]bool{}
	for _, name := range names {
		for _, b := range before {
			for _, a := range after {
				doc := b + "{" + a + `"` + name + `"`
				m[foldBase64(base64.RawURLEncoding.EncodeToString([]byte(doc[:6])))] = true
			}
		}
	}
	return m
}()

// foldedPairs holds the first two characters of every foldedStarts entry.
var foldedPairs = func() *[1 << 16]bool {
	var p [1 << 16]bool
	for start := range foldedStarts {
		p[pairIndex(start[0], start[1])] = true
	}
	return &p
}()

// fold lower-cases base64 and maps the standard alphabet's '+' and '/' to
// the URL alphabet's '-' and '_'.
var fold = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = byte(c) + 'a' - 'A'
	}
	t['+'], t['/'] = '-', '_'
	return t
}()

func foldBase64(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = fold[c]
	}
	return string(b)
}

// jsonSpace is JSON's insignificant whitespace (RFC 8259).
const jsonSpace = " \t\n\r"

// Byte classes, for finding runs quickly.
const (
	clsBase64 uint8 = 1 << iota // either base64 alphabet
	clsHex
	clsBase32Upper
	clsBase32Lower
	clsText // printable ASCII and the line-break whitespace
)

var class = func() (t [256]uint8) {
	for i := range t {
		c := byte(i)
		if isBase64URL(c) || c == '+' || c == '/' {
			t[i] |= clsBase64
		}
		if '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' {
			t[i] |= clsHex
		}
		if '2' <= c && c <= '7' {
			t[i] |= clsBase32Upper | clsBase32Lower
		}
		if 'A' <= c && c <= 'Z' {
			t[i] |= clsBase32Upper
		}
		if 'a' <= c && c <= 'z' {
			t[i] |= clsBase32Lower
		}
		if ' ' <= c && c <= '~' || c == '\t' || c == '\n' || c == '\r' {
			t[i] |= clsText
		}
	}
	return t
}()
