package route

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"
)

// fields are the top-level members of a JSON object.
type fields map[string]json.RawMessage

var (
	errDuplicateName = errors.New("duplicate member name")
	errFoldedName    = errors.New("member names differ only in letter case")
)

// objectFields reads one JSON object and refuses member names that two
// readers could resolve differently: exact duplicates, and names equal
// under encoding/json's case folding ("aud" and "AUD", "sub" and "\u017fub").
// go-jose matches names exactly and rejects duplicates; encoding/json, which
// go-oidc decodes claims with, matches a field by either spelling and keeps
// the last. Refusing both makes routing, tokenfed's own claim reads and every
// verifier see the same members.
func objectFields(data []byte) (fields, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	f := fields{}
	folded := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errors.New("invalid JSON")
		}
		name, _ := tok.(string)
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, errors.New("invalid JSON")
		}
		if _, dup := f[name]; dup {
			return nil, errDuplicateName
		}
		key := foldName(name)
		if folded[key] {
			return nil, errFoldedName
		}
		folded[key] = true
		f[name] = value
	}
	if _, err := dec.Token(); err != nil {
		return nil, errors.New("invalid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return f, nil
}

// decode unmarshals member name into dst when present.
func (f fields) decode(name string, dst any) error {
	raw, ok := f[name]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("%s has the wrong type", name)
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
