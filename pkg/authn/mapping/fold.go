package mapping

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// foldKey is name as a consumer that ignores letter case, Unicode
// compatibility forms and invisible characters reads it: "ſtaging:"
// (U+017F), "ＳＴＡＧＩＮＧ:" and "stag<U+00AD>ing:" (a soft hyphen) are
// all "staging:". Kubernetes itself compares names byte for byte, but
// audit pipelines and external authorizers may not, so every namespace,
// deny-list and reserved-name comparison in this package is made on this
// key. It approximates
// Unicode's NFKC_Casefold (UAX #15, UAX #44): default-ignorable code
// points removed, then NFKC, full case folding and NFKC again.
// Over-matching is safe here: a wider match only refuses or drops more.
//
// ASCII names, the common case, take a path that allocates only when the
// name has upper-case letters.
func foldKey(name string) string {
	if isASCII(name) {
		return strings.ToLower(name)
	}
	s := strings.Map(dropIgnorable, name)
	s = norm.NFKC.String(s)
	// A Caser keeps state, so it is not shared between goroutines.
	s = cases.Fold().String(s)
	return norm.NFKC.String(s)
}

// dropIgnorable removes the code points that render as nothing (soft
// hyphen, zero-width space and joiners, variation selectors, BOM): the
// format characters (Cf) and the other default-ignorables. Cf is a little
// wider than Default_Ignorable_Code_Point, which only widens matches.
func dropIgnorable(r rune) rune {
	if unicode.In(r, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector) {
		return -1
	}
	return r
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// hasPrefixFold reports whether name starts with prefix, a foldKey. Both
// spellings of the name count: its key, and its raw bytes compared with
// ASCII case folding. The raw check keeps an issuer's own name p+rest in
// p's namespace even when rest begins with a combining mark that NFKC
// would fuse with the last letter of p.
func hasPrefixFold(name, key, prefix string) bool {
	return strings.HasPrefix(key, prefix) || asciiHasPrefixFold(name, prefix)
}

// asciiHasPrefixFold compares byte for byte, folding only A-Z: unlike
// strings.EqualFold it never equates byte strings of different lengths.
func asciiHasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if lowerASCII(s[i]) != lowerASCII(prefix[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + ('a' - 'A')
	}
	return b
}
