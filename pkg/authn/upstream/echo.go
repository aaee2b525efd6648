package upstream

import (
	"encoding/base64"
	"encoding/hex"
	"iter"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
)

// minQuote is the shortest part of a token that counts as quoting it.
const minQuote = 16

// Runs shorter than these cannot encode minQuote bytes, so they are not
// decoded: that is what keeps the check off short fields.
const (
	minBase64Run = (minQuote*4 + 2) / 3 // 22
	minHexRun    = minQuote * 2
)

// errQuotedToken is an authenticated answer whose user quotes the token: it
// would put the token into tokenfed's answer and logs. Only a broken or
// hostile cluster does it (a webhook that copies the bearer token into an
// extra is a known pattern), and the answer says nothing reliable.
var errQuotedToken = refusal("answer quoted the token")

// fold maps the base64url alphabet onto the standard one, so that one
// comparison sees a quote in either. It works byte by byte, so it keeps
// binary strings as they are apart from those two bytes.
var fold = strings.NewReplacer("-", "+", "_", "/")

// quotesToken reports whether a string of st's user or audiences holds
// minQuote bytes of token: as they are, in either base64 alphabet, or
// encoded in base64 (either alphabet, padded or not, at any offset) or hex.
// It also finds the token's own base64 parts (a JWT's signature, an opaque
// token's secret) quoted decoded, in base64 or hex. Audiences count: an
// answer's audiences that the review asked for are passed on, and a caller
// may have asked for its own token. It runs once per upstream call, never
// on a cached answer, on an answer checkBounds has bounded; it takes time
// linear in the token and the answer.
func quotesToken(st *authenticationv1.TokenReviewStatus, token string) bool {
	var answer []string
	for f := range answerStrings(st) {
		answer = append(answer, f)
	}
	return shareQuote(secretForms(token), answerForms(answer))
}

// secretForms are the token and the secret parts its base64 runs decode
// to. A run that decodes to text is not secret as a whole: it is a JWT's
// header and claims (a cluster's answer rightly repeats sub as the
// username) or, for an EKS token, a presigned URL whose access key ID the
// cluster rightly returns as an extra. Only what is binary counts: a JWT's
// signature, an opaque token's random secret, and the hex or base64 runs
// inside decoded text (the URL's X-Amz-Signature and session token).
func secretForms(token string) []string {
	forms := []string{fold.Replace(token)}
	for _, run := range runs(token, isBase64, minBase64Run) {
		// A JWT's header and claims are left out whole: their key IDs and
		// UIDs are shared with every other token of the issuer.
		if b := decodeBase64(run); !isJSONObject(b) {
			forms = append(forms, binaryParts(b, 1)...)
		}
	}
	return forms
}

// binaryParts is b when it is binary; when it is text, the binary
// decodings of its long hex and base64 runs, depth levels down.
func binaryParts(b string, depth int) []string {
	if !isText(b) {
		return []string{fold.Replace(b)}
	}
	if depth == 0 {
		return nil
	}
	var parts []string
	for _, run := range runs(b, isHex, minHexRun) {
		parts = append(parts, binaryParts(decodeHex(run), depth-1)...)
	}
	for _, run := range runs(b, isBase64, minBase64Run) {
		if d := decodeBase64(run); !isText(d) {
			parts = append(parts, fold.Replace(d))
		}
	}
	return parts
}

// isText reports whether b is printable ASCII (with tabs and line breaks),
// which random secret bytes practically never are over minQuote bytes.
func isText(b string) bool {
	for i := 0; i < len(b); i++ {
		if c := b[i]; (c < ' ' || c > '~') && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// answerForms are the fields, and what each of their base64 runs decodes
// to at each of the four offsets and each hex run at each of the two: an
// encoding of the token may start anywhere in a field ("Bearer " + ...).
func answerForms(fields []string) []string {
	var forms []string
	for _, f := range fields {
		if len(f) < minQuote {
			continue
		}
		forms = append(forms, fold.Replace(f))
		for _, run := range runs(f, isBase64, minBase64Run) {
			for off := range 4 {
				forms = append(forms, fold.Replace(decodeBase64(run[off:])))
			}
		}
		for _, run := range runs(f, isHex, minHexRun) {
			for off := range 2 {
				forms = append(forms, fold.Replace(decodeHex(run[off:])))
			}
		}
	}
	return forms
}

// shareQuote reports whether some minQuote bytes occur in a string of a and
// in a string of b. It indexes the windows of the smaller side and scans
// the other's, in time linear in both: neither a long token nor a long
// answer makes it quadratic. Windows are compared by a 64-bit hash, so a
// collision is a false alarm that refuses one answer; a real quote is
// never missed.
func shareQuote(a, b []string) bool {
	if size(a) > size(b) {
		a, b = b, a
	}
	set := newGramSet(size(a))
	for _, s := range a {
		for h := range grams(s) {
			set.add(h)
		}
	}
	for _, s := range b {
		for h := range grams(s) {
			if set.has(h) {
				return true
			}
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

// gramBase is the multiplier of the rolling hash (the FNV-64 prime: odd,
// so a window's hash changes whenever one of its bytes does).
const gramBase = 1099511628211

// gramOut is gramBase^minQuote: the weight of the byte leaving a window.
var gramOut = func() uint64 {
	p := uint64(1)
	for range minQuote {
		p *= gramBase
	}
	return p
}()

// grams yields a hash of each minQuote-byte window of s, rolled from the
// last in constant time: a map keyed by the windows themselves costs
// several times more, and the answer side has up to 5 × maxUserBytes.
func grams(s string) iter.Seq[uint64] {
	return func(yield func(uint64) bool) {
		var h uint64
		for i := range len(s) {
			h = h*gramBase + uint64(s[i])
			if i >= minQuote {
				h -= gramOut * uint64(s[i-minQuote])
			}
			if i >= minQuote-1 && !yield(mix(h)) {
				return
			}
		}
	}
}

// mix spreads the hash's entropy into its low bits, which gramSet's
// filter uses (murmur3's 64-bit finaliser; a bijection, so it changes no
// equality).
func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h
}

// gramSet holds window hashes: a bit filter, sized to miss about one
// lookup in sixteen, in front of the exact set, so most lookups of the
// scanned side touch only a few cache lines.
type gramSet struct {
	filter []uint64
	mask   uint64
	exact  map[uint64]struct{}
}

func newGramSet(n int) *gramSet {
	bits := 1 << 10
	for bits < 16*n {
		bits <<= 1
	}
	return &gramSet{filter: make([]uint64, bits/64), mask: uint64(bits - 1), exact: make(map[uint64]struct{}, n)}
}

func (g *gramSet) add(h uint64) {
	g.filter[(h&g.mask)/64] |= 1 << (h % 64)
	g.exact[h] = struct{}{}
}

func (g *gramSet) has(h uint64) bool {
	if g.filter[(h&g.mask)/64]&(1<<(h%64)) == 0 {
		return false
	}
	_, ok := g.exact[h]
	return ok
}

// runs are the maximal substrings of s made of bytes in, at least least
// long.
func runs(s string, in func(byte) bool, least int) []string {
	var out []string
	start := -1
	for i := 0; i <= len(s); i++ {
		switch {
		case i < len(s) && in(s[i]):
			if start < 0 {
				start = i
			}
		case start >= 0:
			if i-start >= least {
				out = append(out, s[start:i])
			}
			start = -1
		}
	}
	return out
}

func isBase64(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("+/-_", c) >= 0
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// decodeBase64 decodes a run of either alphabet, unpadded: padding ends a
// run. A trailing character that cannot complete a byte is dropped.
func decodeBase64(run string) string {
	if len(run)%4 == 1 {
		run = run[:len(run)-1]
	}
	// A run holds only alphabet bytes, so this cannot fail.
	b, _ := base64.RawStdEncoding.DecodeString(fold.Replace(run))
	return string(b)
}

// decodeHex decodes a run of hex digits; a trailing odd digit is dropped.
func decodeHex(run string) string {
	// A run holds only hex digits, so this cannot fail.
	b, _ := hex.DecodeString(run[:len(run)/2*2])
	return string(b)
}

// isJSONObject reports whether b starts like one: whitespace, then '{'.
func isJSONObject(b string) bool {
	b = strings.TrimLeft(b, " \t\r\n")
	return strings.HasPrefix(b, "{")
}
