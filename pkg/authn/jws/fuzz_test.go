package jws_test

// A fuzz target for compact-JWS parsing, the one place tokenfed reads a
// token: routing peeks at what it parsed and verifiers check it. It uses
// the exported API only. `make fuzz` runs it for a set time; `go test`
// runs its seeds and every crasher kept in testdata/fuzz/ as regular tests.
//
// Invariants, checked on every input:
//   - Parse never panics, and refuses with ErrNotJWT, ErrEncrypted or an
//     error wrapping ErrMalformed, which quotes no part of the token;
//   - a token Parse accepts has one spelling: three segments that each
//     re-encode to themselves, which route.Canonical leaves alone;
//   - what Parse read is what encoding/json reads: the header members
//     routing uses, every top-level claim in order with its value, the
//     payload and the signing input;
//   - Parse accepts every token of three canonical segments whose header
//     and payload encoding/json reads as objects with no two names equal
//     under its case folding, a non-empty string alg, strings (or null)
//     for kid, typ, jku, x5u and iss, and a list of strings (or null) for
//     crit; the hand-written scanner neither refuses JSON encoding/json
//     reads nor accepts JSON it refuses.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"github.com/tokenfed/tokenfed/pkg/testing/jwstest"
	"slices"
	"strings"
	"testing"

	"github.com/tokenfed/tokenfed/pkg/authn/jws"
	"github.com/tokenfed/tokenfed/pkg/authn/route"
)

var b64 = base64.RawURLEncoding.EncodeToString

// token and the fuzz shapes are the parser tests' (jwstest).
var token = jwstest.Compact

const fuzzHeader, fuzzPayload, fuzzSig = jwstest.Header, jwstest.Payload, jwstest.Signature

// parseSeeds are the shapes of TestParse and TestParseRefusesSpellings and
// of the attack tables (test/security/attacks_test.go): every accepted
// shape, every refused spelling, and JSON a hand-written scanner may read
// differently from encoding/json.
func parseSeeds() []string {
	valid := token(fuzzHeader, fuzzPayload, fuzzSig)
	segs := strings.Split(valid, ".")
	return []string{
		valid,
		token(`{"alg":"ES256","crit":["x"],"jku":"https://j","x5u":"https://u"}`, `{}`, fuzzSig),
		token(" "+fuzzHeader, "\n  "+fuzzPayload, fuzzSig),
		token("\r\n\t "+fuzzHeader, fuzzPayload, fuzzSig),
		token(fuzzHeader, `{"iss":"https://a","x":{"k":1,"K":2}}`, fuzzSig),
		token(`{"alg":"RS256","kid":null,"crit":null,"b64":false}`, `{"iss":null,"aud":["a","b"],"exp":1e10,"n":-0.5e-3}`, fuzzSig),
		token(`{"alg":"RS\u0032\u00356","kid":"\ud83d\ude00","typ":"\"JWT\""}`, `{"iss":"https:\/\/a","\u00f1ame":"x","e":"\xff"}`, fuzzSig),
		token(`{"alg":"RS256","crit":[null]}`, `{"a":[],"b":{},"c":[{"d":[1,{"e":null}]}],"f":true,"g":false}`, fuzzSig),
		"", "s3cr3t-opaque", "abcdef.0123456789abcdef", segs[0] + "." + segs[1], `{"payload":"e30"}`,
		token(`["alg"]`, fuzzPayload, fuzzSig), segs[0] + ".a.b.c.d", b64([]byte(" "+fuzzHeader)) + ".a.b.c.d",
		b64([]byte("   ")) + "." + segs[1] + "." + fuzzSig,
		valid + ".x", valid + ".x.y.z", token(`{"alg":"none"}`, fuzzPayload, ""), segs[0] + ".." + fuzzSig,
		valid + "==", segs[0] + "." + base64.URLEncoding.EncodeToString([]byte(fuzzPayload)) + "." + fuzzSig,
		segs[0] + "." + segs[1] + "." + base64.RawStdEncoding.EncodeToString([]byte{0xfb, 0xff, 0xfe, 0x01}),
		segs[0] + "." + segs[1][:4] + "\n" + segs[1][4:] + "." + fuzzSig, segs[0] + "." + segs[1] + ".AB",
		token(`{"kid":"k1"}`, fuzzPayload, fuzzSig), token(`{"alg":1}`, fuzzPayload, fuzzSig),
		token(`{"alg":"RS256","crit":"x"}`, fuzzPayload, fuzzSig),
		token(`{"alg":"RS256","kid":"a","kid":"b"}`, fuzzPayload, fuzzSig),
		token(fuzzHeader, `{"iss":"https://a","iss":"https://b"}`, fuzzSig),
		token(fuzzHeader, `{"iss":"https://a","\u0069ss":"https://b"}`, fuzzSig),
		token(fuzzHeader, `{"aud":"app-x","iss":"https://a","AUD":"tokenfed"}`, fuzzSig),
		token(fuzzHeader, `{"iss":"https://a","sub":"x","\u017fub":"y"}`, fuzzSig),
		token(`{"alg":"RS256","kid":"a","\u212aid":"b"}`, fuzzPayload, fuzzSig),
		token(`{"alg":"RS256","Alg":"none"}`, fuzzPayload, fuzzSig),
		token(fuzzHeader, `{"iss":["https://a"]}`, fuzzSig), token(fuzzHeader, `garbage`, fuzzSig),
		token(fuzzHeader, `"https://a"`, fuzzSig), token(fuzzHeader, fuzzPayload+`{}`, fuzzSig),
		token(fuzzHeader, `{"iss":"https://a"`, fuzzSig), token(fuzzHeader, `{"iss":"https://a",}`, fuzzSig),
		token(fuzzHeader, `{"iss" "https://a"}`, fuzzSig), token(fuzzHeader, "{\"iss\":\"a\x01\"}", fuzzSig),
		b64([]byte(`{"alg":"RSA-OAEP","enc":"A256GCM"}`)) + ".AAAA.BBBB.CCCC.DDDD",
		"garbage", "a.b.c", "eyJ.eyJ.eyJ", "e...", "e\x00\x01.\u202e.\xff",
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range parseSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := jws.Parse(raw)
		if err != nil {
			checkRefusal(t, raw, err)
			return
		}
		checkOneSpelling(t, raw)
		checkAsJSONReads(t, raw, tok)
	})
}

func checkRefusal(t *testing.T, raw string, err error) {
	t.Helper()
	if !errors.Is(err, jws.ErrNotJWT) && !errors.Is(err, jws.ErrEncrypted) && !errors.Is(err, jws.ErrMalformed) {
		t.Fatalf("got error %v, want ErrNotJWT, ErrEncrypted or ErrMalformed", err)
	}
	for _, p := range append([]string{raw}, strings.Split(raw, ".")...) {
		// Error texts are short words: a piece this long is the token's.
		if len(p) >= 16 && !strings.Contains(p, " ") && strings.Contains(err.Error(), p) {
			t.Fatalf("the error quotes %d bytes of the token", len(p))
		}
	}
	if h, p, ok := jsonView(raw); ok && acceptable(h, p) {
		t.Fatalf("Parse refused with %v a token encoding/json reads as a well-formed JWS", err)
	}
}

// checkOneSpelling: a token Parse accepts is three segments of canonical
// unpadded base64url, so no other spelling of it is accepted.
func checkOneSpelling(t *testing.T, raw string) {
	t.Helper()
	if c, err := route.Canonical(raw); c != raw || err != nil {
		t.Fatalf("Parse accepted a token route.Canonical changes: %v", err)
	}
	segs := strings.Split(raw, ".")
	if len(segs) != 3 {
		t.Fatalf("Parse accepted %d segments, want 3", len(segs))
	}
	for i, s := range segs {
		dec, err := base64.RawURLEncoding.Strict().DecodeString(s)
		if err != nil || b64(dec) != s {
			t.Fatalf("Parse accepted segment %d, which does not re-encode to itself (%v)", i+1, err)
		}
	}
}

// member is one top-level member as encoding/json reads it.
type member struct {
	name  string
	value json.RawMessage
}

// jsonView reads the header and payload of a three-segment canonical
// token with encoding/json, keeping every member in order, duplicates
// included.
func jsonView(raw string) (header, payload []member, ok bool) {
	segs := strings.Split(raw, ".")
	if len(raw) > jws.MaxTokenBytes || len(segs) != 3 {
		return nil, nil, false
	}
	var dec [3][]byte
	for i, s := range segs {
		b, err := base64.RawURLEncoding.Strict().DecodeString(s)
		if err != nil || s == "" || strings.ContainsAny(s, "\r\n") {
			return nil, nil, false
		}
		dec[i] = b
	}
	header, ok1 := objectMembers(dec[0])
	payload, ok2 := objectMembers(dec[1])
	return header, payload, ok1 && ok2
}

func objectMembers(data []byte) ([]member, bool) {
	if !json.Valid(data) {
		return nil, false
	}
	d := json.NewDecoder(bytes.NewReader(data))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var out []member
	for d.More() {
		name, err := d.Token()
		if err != nil {
			return nil, false
		}
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, false
		}
		out = append(out, member{name: name.(string), value: v})
	}
	return out, true
}

// acceptable says whether Parse must accept a token with these members.
func acceptable(header, payload []member) bool {
	if !distinctNames(header) || !distinctNames(payload) {
		return false
	}
	for _, name := range []string{"alg", "kid", "typ", "jku", "x5u"} {
		if _, ok := stringOrNull(get(header, name)); !ok {
			return false
		}
	}
	if alg, _ := stringOrNull(get(header, "alg")); alg == "" {
		return false
	}
	if crit := get(header, "crit"); crit != nil {
		var list []string
		if json.Unmarshal(crit, &list) != nil {
			return false
		}
	}
	_, ok := stringOrNull(get(payload, "iss"))
	return ok
}

// distinctNames: no two names equal, or equal under encoding/json's case
// folding. Names with a byte outside ASCII fold by Unicode rules (the
// Kelvin sign is a "k"): for them it answers false, and acceptable then
// demands nothing.
func distinctNames(ms []member) bool {
	seen := map[string]bool{}
	for _, m := range ms {
		for i := 0; i < len(m.name); i++ {
			if m.name[i] >= 0x80 {
				return false
			}
		}
		key := strings.ToUpper(m.name)
		if seen[key] {
			return false
		}
		seen[key] = true
	}
	return true
}

func get(ms []member, name string) json.RawMessage {
	for _, m := range ms {
		if m.name == name {
			return m.value
		}
	}
	return nil
}

// stringOrNull decodes a member that must be a string, null or absent.
func stringOrNull(raw json.RawMessage) (string, bool) {
	if raw == nil {
		return "", true
	}
	var s *string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	if s == nil {
		return "", true
	}
	return *s, true
}

// checkAsJSONReads compares what Parse read with encoding/json's reading.
func checkAsJSONReads(t *testing.T, raw string, tok *jws.Token) {
	t.Helper()
	header, payload, ok := jsonView(raw)
	if !ok {
		t.Fatal("Parse accepted a token whose header or payload encoding/json does not read as an object")
	}
	if !distinctNames(header) && !hasNonASCIIName(header) || !distinctNames(payload) && !hasNonASCIIName(payload) {
		t.Fatal("Parse accepted member names that are equal, or equal under case folding")
	}
	h := tok.Header
	for name, got := range map[string]string{"alg": h.Alg, "kid": h.Kid, "typ": h.Typ, "jku": h.JKU, "x5u": h.X5U} {
		if want, ok := stringOrNull(get(header, name)); !ok || got != want {
			t.Fatalf("Parse read header %s %q, encoding/json reads %q (a string: %v)", name, got, want, ok)
		}
	}
	var crit []string
	if c := get(header, "crit"); c != nil && json.Unmarshal(c, &crit) != nil {
		t.Fatal("Parse accepted a crit encoding/json cannot read as a list of strings")
	}
	if !slices.Equal(h.Crit, crit) {
		t.Fatalf("Parse read crit %q, encoding/json reads %q", h.Crit, crit)
	}
	if iss, _ := stringOrNull(get(payload, "iss")); h.Issuer != iss {
		t.Fatalf("Parse read iss %q, encoding/json reads %q", h.Issuer, iss)
	}
	checkClaims(t, tok, payload)
	segs := strings.Split(raw, ".")
	if tok.Raw != raw || tok.SigningInput() != segs[0]+"."+segs[1] {
		t.Fatal("Parse's Raw or SigningInput is not the token's first two segments")
	}
	if want, _ := base64.RawURLEncoding.DecodeString(segs[1]); !bytes.Equal(tok.Payload(), want) {
		t.Fatal("Parse's Payload is not the decoded second segment")
	}
}

// checkClaims: every top-level claim, in order, with the value encoding/json
// reads.
func checkClaims(t *testing.T, tok *jws.Token, payload []member) {
	t.Helper()
	got := tok.Claims.Members()
	if len(got) != len(payload) {
		t.Fatalf("Parse read %d claims, encoding/json reads %d", len(got), len(payload))
	}
	for i, m := range got {
		if m.Name != payload[i].name || !sameJSON(m.Value, payload[i].value) {
			t.Fatalf("claim %d: Parse read %q = %s, encoding/json reads %q = %s", i, m.Name, m.Value, payload[i].name, payload[i].value)
		}
	}
}

func sameJSON(a, b []byte) bool {
	var ca, cb bytes.Buffer
	return json.Compact(&ca, a) == nil && json.Compact(&cb, b) == nil && bytes.Equal(ca.Bytes(), cb.Bytes())
}

func hasNonASCIIName(ms []member) bool {
	return slices.ContainsFunc(ms, func(m member) bool {
		return strings.ContainsFunc(m.name, func(r rune) bool { return r >= 0x80 })
	})
}

// TestFuzzSeedsReachEveryCheck: the seeds alone reach every check above:
// tokens accepted, among them ones encoding/json says must be, and each
// kind of refusal.
func TestFuzzSeedsReachEveryCheck(t *testing.T) {
	reached := map[string]int{}
	for _, s := range parseSeeds() {
		_, err := jws.Parse(s)
		h, p, ok := jsonView(s)
		switch {
		case err == nil && ok && acceptable(h, p):
			reached["accepted, as encoding/json demands"]++
		case err == nil:
			reached["accepted"]++
		case errors.Is(err, jws.ErrNotJWT):
			reached["not a JWT"]++
		case errors.Is(err, jws.ErrEncrypted):
			reached["encrypted"]++
		case ok:
			reached["refused, encoding/json reads objects"]++
		default:
			reached["refused"]++
		}
	}
	for _, want := range []string{"accepted, as encoding/json demands", "not a JWT", "encrypted", "refused, encoding/json reads objects", "refused"} {
		if reached[want] == 0 {
			t.Errorf("no seed reached %q; reached %v", want, reached)
		}
	}
}
