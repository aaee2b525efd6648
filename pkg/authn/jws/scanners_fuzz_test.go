package jws

import "testing"

// FuzzScanners feeds arbitrary bytes to every hand-written scanner, as a
// token, as a payload and as a raw JSON value: none may panic, and each
// value of a parsed object must read back through the exported decoders.
func FuzzScanners(f *testing.F) {
	for _, p := range referencePayloads {
		f.Add(p[1])
	}
	for _, s := range []string{`{"aud":["a","b"]}`, `{"a":{"b":{"c":[1,"x",{"d":null}]}}}`, `{"x":"\\\"}"}`, `[`, `["a"`, `{"a":`, `"`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		DecodeLenient(nil, s)
		CanonicalSignature(s)
		Parse(s)
		flatAlg([]byte(s))
		isLegacy(s)
		token := tok(`{"alg":"ES256"}`, s, enc(make([]byte, 64)))
		CanonicalSignature(token)
		if parsed, err := Parse(token); err == nil {
			readValues(t, parsed.Claims.Members(), 0)
		}
		if members, err := DecodeObject([]byte(s), nil); err == nil {
			readValues(t, members, 0)
		}
		DecodeString([]byte(s))
		DecodeStrings([]byte(s))
	})
}

// readValues reads every value of members, and of the objects nested in
// them, with the decoder for its JSON type.
func readValues(t *testing.T, members []Member, depth int) {
	for _, m := range members {
		v := m.Value
		switch {
		case depth > 8:
			return
		case v[0] == '[':
			DecodeStrings(v)
		case v[0] == '{':
			nested, err := DecodeObject(v, nil)
			if err == nil {
				readValues(t, nested, depth+1)
			}
		default:
			DecodeString(v)
		}
	}
}
