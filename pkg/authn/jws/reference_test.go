package jws

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// oldPeek is route.Peek as it was before the issue-14 rewrite (commit
// 916736c, pkg/authn/route/peek.go and json.go): encoding/json's Decoder
// reads each object, names are checked for exact and folded duplicates.
// It is the reference the one parser is held to: a token it refused must
// still be refused, and a token it read must read the same.
func oldPeek(token string) (Header, error) {
	if len(token) > MaxTokenBytes {
		return Header{}, errTooLarge
	}
	segs := strings.Split(token, ".")
	switch {
	case len(segs) < 3 || !startsObject(segs[0]):
		return Header{}, ErrNotJWT
	case len(segs) == 5:
		return Header{}, ErrEncrypted
	}
	if len(segs) != 3 {
		return Header{}, fmt.Errorf("%w: %d segments", ErrMalformed, len(segs))
	}
	var raw [3][]byte
	for i, s := range segs {
		var err error
		if raw[i], err = oldDecodeSegment(s); err != nil {
			return Header{}, fmt.Errorf("%w: segment %d: %w", ErrMalformed, i+1, err)
		}
	}
	header, err := oldObjectFields(raw[0])
	if err != nil {
		return Header{}, fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	payload, err := oldObjectFields(raw[1])
	if err != nil {
		return Header{}, fmt.Errorf("%w: payload: %w", ErrMalformed, err)
	}
	var h Header
	for name, dst := range map[string]*string{"alg": &h.Alg, "kid": &h.Kid, "typ": &h.Typ, "jku": &h.JKU, "x5u": &h.X5U, "iss": &h.Issuer} {
		f := header
		if name == "iss" {
			f = payload
		}
		if v, ok := f[name]; ok && json.Unmarshal(v, dst) != nil {
			return Header{}, fmt.Errorf("%w: %s has the wrong type", ErrMalformed, name)
		}
	}
	if v, ok := header["crit"]; ok && json.Unmarshal(v, &h.Crit) != nil {
		return Header{}, fmt.Errorf("%w: crit has the wrong type", ErrMalformed)
	}
	if h.Alg == "" {
		return Header{}, fmt.Errorf("%w: alg is missing", ErrMalformed)
	}
	return h, nil
}

func oldDecodeSegment(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	for i := 0; i < len(s); i++ {
		if !isBase64URL(s[i]) {
			return nil, errors.New("not unpadded base64url")
		}
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || base64.RawURLEncoding.EncodeToString(b) != s {
		return nil, errors.New("not canonical base64url")
	}
	return b, nil
}

func oldObjectFields(data []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	f := map[string]json.RawMessage{}
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
		if key := foldName(name); folded[key] {
			return nil, errFoldedName
		} else {
			folded[key] = true
		}
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

// referencePayloads are header and payload pairs for the differential
// test: real ones, and every trick of names, values and spacing.
var referencePayloads = [][2]string{
	{hdr, pl},
	{`{"alg":"ES256","crit":["b64"],"b64":false}`, `{"iss":"a"}`},
	{`{"alg":"RS256","crit":null}`, `{}`},
	{`{"alg":"RS256","kid":null,"typ":null,"jku":null,"x5u":null}`, `{"iss":null}`},
	{`{"alg":null}`, `{}`},
	{`{"alg":1}`, `{}`},
	{`{"alg":"RS256","kid":1}`, `{}`},
	{`{"alg":"RS256","crit":"x"}`, `{}`},
	{`{"alg":"RS256","crit":[1]}`, `{}`},
	{`{"alg":"RS256","crit":[null]}`, `{}`},
	{`{"alg":"RS\u0032\u0035\u0036","k\u0069d":"\u006b1"}`, `{"\u0069ss":"https://a\u002fb"}`},
	{`{"alg":"RS256","kid":"` + "\xff\xfe" + `"}`, `{"iss":"` + "\xc3" + `"}`},
	{`{"alg":"RS256"}`, `{"iss":"\ud800"}`},
	{`{"alg":"RS256"}`, `{"iss":"\ud83d\ude00"}`},
	{`{"alg":"RS256"}`, `{"iss":"a","ISS":"b"}`},
	{`{"alg":"RS256"}`, `{"sub":"a","\u017fub":"b"}`},
	{`{"alg":"RS256","kid":"a","\u212aid":"b"}`, `{}`},
	{`{"alg":"RS256"}`, `{"iss":"a","i\u0073s":"b"}`},
	{`{"alg":"RS256"}`, `{"iss":"a"} `},
	{`{"alg":"RS256"}`, `{"iss":"a"}{}`},
	{`{"alg":"RS256"}`, `{"iss":"a",}`},
	{`{"alg":"RS256"}`, `{"iss":"a" "sub":"b"}`},
	{`{"alg":"RS256"}`, `{"x":[1,2,{"a":"}"}],"iss":"a"}`},
	{`{"alg":"RS256"}`, `{"x":"\"}","iss":"a"}`},
	{`{"alg":"RS256"}`, `{"x":1e999,"iss":"a"}`},
	{`{"alg":"RS256"}`, `{"x":-0.0e-0,"iss":"a"}`},
	{`{"alg":"RS256"}`, `{"x":01}`},
	{`{"alg":"RS256"}`, `{"":1,"iss":"a"}`},
	{`{"alg":"RS256"}`, `{"":1,"":2}`},
	{`{"alg":"RS256"}`, "{\"iss\":\"a\u2028\"}"},
	{`{"alg":"RS256"}`, "{\"iss\":\"a\x00\"}"},
	{`{"alg":"RS256"}`, "{\"iss\":\"a\x7f\"}"},
	{`{"alg":"RS256"}`, "\ufeff{}"},
	{`{"alg":"RS256"}`, `[]`},
	{`{"alg":"RS256"}`, `null`},
	{`{"alg":"RS256"}`, ``},
	{`{"alg":"RS256"}`, `{"a":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`},
	{` {"alg" : "RS256" } `, "\t{\n}\r\n"},
}

func TestParseAgreesWithOldPeek(t *testing.T) {
	for _, p := range referencePayloads {
		token := tok(p[0], p[1], sig)
		t.Run(token, func(t *testing.T) { checkAgainstOldPeek(t, token) })
	}
}

func FuzzParseAgreesWithOldPeek(f *testing.F) {
	for _, p := range referencePayloads {
		f.Add(p[0], p[1], sig)
	}
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, header, payload, signature string) {
		checkAgainstOldPeek(t, tok(header, payload, signature))
		checkAgainstOldPeek(t, header+"."+payload+"."+signature)
	})
}

// checkAgainstOldPeek compares Parse and oldPeek on token: the same
// outcome (ErrNotJWT, ErrEncrypted, ErrMalformed or success) and, on
// success, the same header.
func checkAgainstOldPeek(t *testing.T, token string) {
	t.Helper()
	want, wantErr := oldPeek(token)
	got, gotErr := peek(token)
	for _, kind := range []error{ErrNotJWT, ErrEncrypted, ErrMalformed} {
		if errors.Is(gotErr, kind) != errors.Is(wantErr, kind) {
			t.Fatalf("token %q: got error %v, old Peek %v", token, gotErr, wantErr)
		}
	}
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("token %q: got error %v, old Peek %v", token, gotErr, wantErr)
	}
	got.extension = false
	if gotErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("token %q:\ngot      %+v\nold Peek %+v", token, got, want)
	}
}
