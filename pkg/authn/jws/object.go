package jws

import (
	"encoding/json"
	"errors"
	"unicode"
	"unicode/utf8"
	"unsafe"

	josejson "github.com/go-jose/go-jose/v4/json"
)

// Member is one top-level member of a JSON object: its name, unescaped,
// and its raw value.
type Member struct {
	Name  string
	Value []byte
}

// Object is a JSON object's top-level members in document order. Names
// are unique, also under case folding (see parse).
type Object struct {
	members []Member
}

var (
	errNotObject     = errors.New("not a JSON object")
	errInvalidJSON   = errors.New("invalid JSON")
	errDuplicateName = errors.New("duplicate member name")
	errFoldedName    = errors.New("member names differ only in letter case")
	errWrongType     = errors.New("has the wrong type")
)

// Members returns the members in document order.
func (o *Object) Members() []Member { return o.members }

// Get returns the raw value of member name.
func (o *Object) Get(name string) ([]byte, bool) {
	for i := range o.members {
		if o.members[i].Name == name {
			return o.members[i].Value, true
		}
	}
	return nil, false
}

// String returns member name as a string: "" when it is absent or null,
// an error naming the member (never its value) when it is not a string.
func (o *Object) String(name string) (string, error) {
	raw, ok := o.Get(name)
	if !ok {
		return "", nil
	}
	s, err := DecodeString(raw)
	if err != nil {
		return "", wrongType(name)
	}
	return s, nil
}

// stringAlias is String without a copy for a plain value: the string
// shares the token's buffer.
func (o *Object) stringAlias(name string) (string, error) {
	raw, ok := o.Get(name)
	if ok && len(raw) >= 2 && raw[0] == '"' && plainASCII(raw[1:len(raw)-1]) {
		return aliasString(raw[1 : len(raw)-1]), nil
	}
	return o.String(name)
}

func wrongType(name string) error {
	return errors.New(name + " " + errWrongType.Error())
}

// DecodeString decodes a raw JSON value that must be a string or null
// (""), as go-jose's JSON decoder stores it into a string: escapes
// resolved, invalid UTF-8 replaced by U+FFFD. Printable ASCII without
// escapes, every real claim, is copied without a decoder.
func DecodeString(raw []byte) (string, error) {
	if len(raw) >= 2 && raw[0] == '"' && plainASCII(raw[1:len(raw)-1]) {
		return string(raw[1 : len(raw)-1]), nil
	}
	if string(raw) == "null" {
		return "", nil
	}
	if len(raw) == 0 || raw[0] != '"' {
		return "", errWrongType
	}
	var s string
	if err := josejson.Unmarshal(raw, &s); err != nil {
		return "", errWrongType
	}
	return s, nil
}

// DecodeStrings decodes a raw JSON array whose elements must all be
// strings, as go-jose decodes one into []interface{} and then requires
// strings: null, or any other element, is refused. It reads the array's
// grammar as it goes and never reads past raw, so bytes that are no such
// array are refused (errWrongType) without a second pass over them, even
// though every value of a parsed Object is valid JSON already.
func DecodeStrings(raw []byte) ([]string, error) {
	if len(raw) == 0 || raw[0] != '[' {
		return nil, errWrongType
	}
	out := make([]string, 0, 1+countCommas(raw))
	i := skipSpace(raw, 1)
	if i < len(raw) && raw[i] == ']' {
		return closeArray(out, raw, i)
	}
	for {
		end := closingQuote(raw, i)
		if end < 0 {
			return nil, errWrongType
		}
		s, err := DecodeString(raw[i:end])
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		switch i = skipSpace(raw, end); {
		case i < len(raw) && raw[i] == ',':
			i = skipSpace(raw, i+1)
		case i < len(raw) && raw[i] == ']':
			return closeArray(out, raw, i)
		default:
			return nil, errWrongType
		}
	}
}

// closingQuote returns the index just past the string starting at raw[i],
// or -1 when raw[i] starts no string or the string is not closed.
// DecodeString checks what lies between the quotes.
func closingQuote(raw []byte, i int) int {
	if i >= len(raw) || raw[i] != '"' {
		return -1
	}
	for i++; i < len(raw); i++ {
		switch raw[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// closeArray returns out, the strings of the array whose ']' is raw[i],
// if nothing but whitespace follows it.
func closeArray(out []string, raw []byte, i int) ([]string, error) {
	if skipSpace(raw, i+1) != len(raw) {
		return nil, errWrongType
	}
	return out, nil
}

// countCommas bounds the elements of an array of strings from above.
func countCommas(raw []byte) int {
	n := 0
	for _, c := range raw {
		if c == ',' {
			n++
		}
	}
	return n
}

// plainASCII reports whether b is printable ASCII without '"' or '\\': a
// JSON string body that means itself.
func plainASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// parse reads one JSON object and refuses member names that two readers
// could resolve differently: exact duplicates, and names equal under
// encoding/json's case folding ("aud" and "AUD", "sub" and "\u017fub").
// go-jose matches names exactly and rejects duplicates; encoding/json,
// which go-oidc decodes claims with, matches a field by either spelling
// and keeps the last. Refusing both makes routing, tokenfed's own claim
// reads and every verifier see the same members. Only top-level names are
// checked: nested objects are decoded by go-jose's rules, exact names with
// duplicates refused, by whoever reads them.
//
// Names are unescaped, so "\u0069ss" is iss, as every JSON reader sees it.
// Member names alias data, which must not change afterwards. The members
// are appended to buf, whose capacity should cover a real token's.
func (o *Object) parse(data []byte, buf []Member) error {
	members, err := parseMembers(data, buf)
	o.members = members
	return err
}

// DecodeObject reads a nested JSON object the way go-jose's JSON decoder
// reads one into a struct: exact duplicate names are refused, names
// differing in case are not (go-jose matches them exactly, so they are
// different members). The members are appended to buf[:0] and alias raw.
func DecodeObject(raw []byte, buf []Member) ([]Member, error) {
	members, err := scanMembers(raw, buf)
	if err != nil {
		return nil, err
	}
	if err := checkExactNames(members); err != nil {
		return nil, err
	}
	return members, nil
}

// pairwiseNames is how many members are checked for duplicates pair by
// pair, without allocating; beyond it a set keeps the check linear.
const pairwiseNames = 32

// checkExactNames refuses exact duplicate names. A real claim object has a
// handful of members, but a forged 16 KiB token can put 1500 in one, and
// nested claims are read from tokens nobody has verified yet
// (jwt.PeekRefs): compared pairwise those would cost a million comparisons,
// milliseconds per token. go-jose's decoder keeps a set too
// (go-jose/v4/json/decode.go, object).
func checkExactNames(members []Member) error {
	if len(members) <= pairwiseNames {
		for i := range members {
			for j := i + 1; j < len(members); j++ {
				if members[i].Name == members[j].Name {
					return errDuplicateName
				}
			}
		}
		return nil
	}
	seen := make(map[string]struct{}, len(members))
	for _, m := range members {
		if _, dup := seen[m.Name]; dup {
			return errDuplicateName
		}
		seen[m.Name] = struct{}{}
	}
	return nil
}

func parseMembers(data []byte, members []Member) ([]Member, error) {
	members, err := scanMembers(data, members)
	if err != nil {
		return nil, err
	}
	if len(members) <= pairwiseNames && allPlain(members) {
		return members, checkASCIINames(members)
	}
	return members, checkNames(members)
}

func allPlain(members []Member) bool {
	for i := range members {
		for _, c := range []byte(members[i].Name) {
			if c < 0x20 || c >= 0x7f {
				return false
			}
		}
	}
	return true
}

// scanMembers validates data as one JSON object and lists its members.
func scanMembers(data []byte, members []Member) ([]Member, error) {
	if !json.Valid(data) {
		if first := skipSpace(data, 0); first < len(data) && data[first] != '{' {
			return nil, errNotObject
		}
		return nil, errInvalidJSON
	}
	i := skipSpace(data, 0)
	if data[i] != '{' {
		return nil, errNotObject
	}
	members = members[:0]
	for i = skipSpace(data, i+1); data[i] != '}'; {
		nameEnd := endOfString(data, i)
		rawName := data[i:nameEnd]
		i = skipSpace(data, skipSpace(data, nameEnd)+1) // past ':'
		valueEnd := endOfValue(data, i)
		m := Member{Name: aliasString(rawName[1 : len(rawName)-1]), Value: data[i:valueEnd:valueEnd]}
		if !plainASCII(rawName[1 : len(rawName)-1]) {
			var err error
			if m.Name, err = unescapeName(rawName); err != nil {
				return nil, err
			}
		}
		members = append(members, m)
		i = skipSpace(data, valueEnd)
		if data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	return members, nil
}

// unescapeName decodes a quoted name with escapes or non-ASCII bytes as
// encoding/json does, invalid UTF-8 becoming U+FFFD. Real tokens never
// take this path.
func unescapeName(quoted []byte) (string, error) {
	var name string
	if err := json.Unmarshal(quoted, &name); err != nil {
		return "", errInvalidJSON
	}
	return name, nil
}

// aliasString is b as a string without a copy.
func aliasString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// checkASCIINames is checkNames for a few printable-ASCII names, without
// allocating: for them encoding/json's folding is ASCII case folding.
func checkASCIINames(members []Member) error {
	for i := range members {
		for j := i + 1; j < len(members); j++ {
			a, b := members[i].Name, members[j].Name
			switch {
			case a == b:
				return errDuplicateName
			case len(a) == len(b) && equalFoldASCII(a, b):
				return errFoldedName
			}
		}
	}
	return nil
}

func equalFoldASCII(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// checkNames refuses exact and folded duplicates among any names.
func checkNames(members []Member) error {
	exact := make(map[string]bool, len(members))
	folded := make(map[string]bool, len(members))
	for _, m := range members {
		if exact[m.Name] {
			return errDuplicateName
		}
		exact[m.Name] = true
		key := foldName(m.Name)
		if folded[key] {
			return errFoldedName
		}
		folded[key] = true
	}
	return nil
}

// foldName is encoding/json's key for matching a member to a struct field
// without regard to case (foldName in encoding/json/fold.go): ASCII letters
// upper-cased, any other rune replaced by the smallest rune of its Unicode
// simple-folding orbit, so "K", "k" and the Kelvin sign are one name.
func foldName(name string) string {
	var b []byte
	for i := 0; i < len(name); {
		if c := name[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			b = append(b, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(name[i:])
		b = utf8.AppendRune(b, foldRune(r))
		i += n
	}
	return string(b)
}

func foldRune(r rune) rune {
	for {
		next := unicode.SimpleFold(r)
		if next <= r {
			return next
		}
		r = next
	}
}

// The scanners below run on data json.Valid accepted, so they need not
// check what they skip.

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// endOfString returns the index just past the string starting at i.
func endOfString(data []byte, i int) int {
	for i++; ; i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
}

// endOfValue returns the index just past the value starting at i.
func endOfValue(data []byte, i int) int {
	switch data[i] {
	case '"':
		return endOfString(data, i)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch data[i] {
			case '"':
				i = endOfString(data, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(data) {
		switch data[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}
