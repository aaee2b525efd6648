package jws

import (
	"reflect"
	"testing"
)

// TestDecodeStringsRefusesWhatIsNotAnArrayOfStrings: DecodeStrings is
// exported and reads raw bytes; whatever they hold, it returns the strings
// of a JSON array of strings or an error, as go-jose's Audience decoder
// does, and never panics or reads a broken array as a list.
func TestDecodeStringsRefusesWhatIsNotAnArrayOfStrings(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want []string
	}{
		{`[]`, []string{}},
		{` [ ] `[1:], []string{}},
		{`["a"]`, []string{"a"}},
		{`[ "a" , "b\u0063" ]`, []string{"a", "bc"}},
		{`["a",null]`, nil},
		{`["a",1]`, nil},
		{`[`, nil},
		{`[ `, nil},
		{`["a"`, nil},
		{`["a",`, nil},
		{`["a`, nil},
		{`["a\`, nil},
		{`["a" "b"]`, nil},
		{`["a",]`, nil},
		{`[,"a"]`, nil},
		{`["a"]x`, nil},
		{`["a"]]`, nil},
		{"[\"a\nb\"]", nil},
		{`"a"`, nil},
		{``, nil},
	} {
		got, err := DecodeStrings([]byte(tc.raw))
		if (err == nil) != (tc.want != nil) || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("DecodeStrings(%q) = %q, %v; want %q", tc.raw, got, err, tc.want)
		}
	}
}
