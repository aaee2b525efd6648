package jws

import (
	"encoding/base64"
	"errors"
	"github.com/tokenfed/tokenfed/pkg/testing/jwstest"
	"reflect"
	"strings"
	"testing"
)

var enc = base64.RawURLEncoding.EncodeToString

// tok, hdr, pl and sig are the parser tests' shared shapes (jwstest).
var tok = jwstest.Compact

const hdr, pl, sig = jwstest.Header, jwstest.Payload, jwstest.Signature

// pad adds base64 padding to seg.
func pad(seg string) string {
	return seg + strings.Repeat("=", (4-len(seg)%4)%4)
}

func TestParse(t *testing.T) {
	valid := tok(hdr, pl, sig)
	segs := strings.Split(valid, ".")
	tests := []struct {
		name  string
		token string
		want  Header
		err   error
	}{
		{"valid", valid, Header{Alg: "RS256", Kid: "k1", Typ: "JWT", Issuer: "https://a.example"}, nil},
		{"all header fields", tok(`{"alg":"ES256","crit":["x"],"jku":"https://j","x5u":"https://u"}`, `{}`, sig),
			Header{Alg: "ES256", Crit: []string{"x"}, JKU: "https://j", X5U: "https://u"}, nil},
		{"no iss", tok(hdr, `{"sub":"x"}`, sig), Header{Alg: "RS256", Kid: "k1", Typ: "JWT"}, nil},
		{"header JSON starts with a space", tok(" "+hdr, pl, sig), Header{Alg: "RS256", Kid: "k1", Typ: "JWT", Issuer: "https://a.example"}, nil},
		{"header and payload JSON start with whitespace", tok("\r\n\t "+hdr, "\n  "+pl, sig), Header{Alg: "RS256", Kid: "k1", Typ: "JWT", Issuer: "https://a.example"}, nil},
		{"payload JSON starts with two spaces", tok(hdr, "  "+pl, sig), Header{Alg: "RS256", Kid: "k1", Typ: "JWT", Issuer: "https://a.example"}, nil},
		{"nested names may differ only in case", tok(hdr, `{"iss":"https://a","x":{"k":1,"K":2}}`, sig), Header{Alg: "RS256", Kid: "k1", Typ: "JWT", Issuer: "https://a"}, nil},

		{"empty", "", Header{}, ErrNotJWT},
		{"opaque", "s3cr3t-opaque", Header{}, ErrNotJWT},
		{"bootstrap token", "abcdef.0123456789abcdef", Header{}, ErrNotJWT},
		{"two segments", segs[0] + "." + segs[1], Header{}, ErrNotJWT},
		{"JSON serialization", `{"payload":"e30"}`, Header{}, ErrNotJWT},
		{"header not an object", tok(`["alg"]`, pl, sig), Header{}, ErrNotJWT},
		{"JWE", segs[0] + ".a.b.c.d", Header{}, ErrEncrypted},
		{"JWE whose header starts with a space", enc([]byte(" "+hdr)) + ".a.b.c.d", Header{}, ErrEncrypted},
		{"two segments, header starts with a space", enc([]byte(" "+hdr)) + "." + segs[1], Header{}, ErrNotJWT},
		{"first segment is whitespace only", enc([]byte("   ")) + "." + segs[1] + "." + sig, Header{}, ErrNotJWT},

		{"four segments", valid + ".x", Header{}, ErrMalformed},
		{"six segments", valid + ".x.y.z", Header{}, ErrMalformed},
		{"1 MiB", "e" + strings.Repeat("A", 1<<20), Header{}, ErrMalformed},
		{"empty signature (alg none)", tok(`{"alg":"none"}`, pl, ""), Header{}, ErrMalformed},
		{"empty payload", segs[0] + ".." + sig, Header{}, ErrMalformed},
		{"padding", segs[0] + "." + segs[1] + "." + sig + "==", Header{}, ErrMalformed},
		{"padded payload", segs[0] + "." + base64.URLEncoding.EncodeToString([]byte(pl)) + "." + sig, Header{}, ErrMalformed},
		{"standard alphabet", segs[0] + "." + segs[1] + "." + base64.RawStdEncoding.EncodeToString([]byte{0xfb, 0xff, 0xfe, 0x01}), Header{}, ErrMalformed},
		{"newline inside a segment", segs[0] + "." + segs[1][:4] + "\n" + segs[1][4:] + "." + sig, Header{}, ErrMalformed},
		{"space inside a segment", segs[0] + "." + segs[1] + "." + sig[:2] + " " + sig[2:], Header{}, ErrMalformed},
		{"non-canonical trailing bits", segs[0] + "." + segs[1] + ".AB", Header{}, ErrMalformed},
		{"alg missing", tok(`{"kid":"k1"}`, pl, sig), Header{}, ErrMalformed},
		{"alg not a string", tok(`{"alg":1}`, pl, sig), Header{}, ErrMalformed},
		{"crit not a list", tok(`{"alg":"RS256","crit":"x"}`, pl, sig), Header{}, ErrMalformed},
		{"duplicate header member", tok(`{"alg":"RS256","kid":"a","kid":"b"}`, pl, sig), Header{}, ErrMalformed},
		{"duplicate iss", tok(hdr, `{"iss":"https://a","iss":"https://b"}`, sig), Header{}, ErrMalformed},
		{"duplicate iss spelled with an escape", tok(hdr, `{"iss":"https://a","\u0069ss":"https://b"}`, sig), Header{}, ErrMalformed},
		{"duplicate other claim", tok(hdr, `{"iss":"https://a","aud":"x","aud":"y"}`, sig), Header{}, ErrMalformed},
		{"iss and ISS", tok(hdr, `{"ISS":"https://b","iss":"https://a"}`, sig), Header{}, ErrMalformed},
		{"aud and AUD, as encoding/json would merge them", tok(hdr, `{"aud":"app-x","iss":"https://a","AUD":"tokenfed"}`, sig), Header{}, ErrMalformed},
		{"sub and sub with a long s", tok(hdr, `{"iss":"https://a","sub":"x","\u017fub":"y"}`, sig), Header{}, ErrMalformed},
		{"kid and kid with a Kelvin sign", tok(`{"alg":"RS256","kid":"a","\u212aid":"b"}`, pl, sig), Header{}, ErrMalformed},
		{"alg and Alg", tok(`{"alg":"RS256","Alg":"none"}`, pl, sig), Header{}, ErrMalformed},
		{"header starting with whitespace, padded", pad(enc([]byte("  "+hdr))) + "." + segs[1] + "." + sig, Header{}, ErrMalformed},
		{"iss not a string", tok(hdr, `{"iss":["https://a"]}`, sig), Header{}, ErrMalformed},
		{"payload not JSON", tok(hdr, `garbage`, sig), Header{}, ErrMalformed},
		{"payload not an object", tok(hdr, `"https://a"`, sig), Header{}, ErrMalformed},
		{"data after the payload object", tok(hdr, pl+`{}`, sig), Header{}, ErrMalformed},
		{"truncated payload JSON", tok(hdr, `{"iss":"https://a"`, sig), Header{}, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := peek(tc.token)
			if !errors.Is(err, tc.err) {
				t.Fatalf("got error %v, want %v", err, tc.err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), tc.token) && tc.token != "" {
				t.Fatalf("got error %q quoting the token", err)
			}
		})
	}
}

// TestParseRefusesSpellings: every spelling of a JWS-shaped token but the
// canonical one is refused, so routing and verification, which share
// one parse, never see a second spelling of a token.
func TestParseRefusesSpellings(t *testing.T) {
	valid := tok(hdr, pl, sig)
	segs := strings.Split(valid, ".")
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"valid", valid, true},
		{"padding", valid + "==", false},
		{"newline", segs[0] + "." + segs[1][:4] + "\r\n" + segs[1][4:] + "." + sig, false},
		{"trailing bits", segs[0] + "." + segs[1] + ".AB", false},
		{"standard alphabet", segs[0] + "." + segs[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(sig), false},
		{"empty signature", segs[0] + "." + segs[1] + ".", false},
		{"five segments", valid + ".a.b", false},
		{"too large", strings.Repeat("A", MaxTokenBytes) + "." + valid, false},
		{"JSON starting with whitespace", tok(" "+hdr, "\n"+pl, sig), true},
		{"header not JSON", tok("garbage", pl, sig), false},
		{"payload not an object", tok(hdr, `"https://a"`, sig), false},
		{"duplicate header member", tok(`{"alg":"RS256","kid":"a","kid":"b"}`, pl, sig), false},
		{"payload names differing only in case", tok(hdr, `{"aud":"app-x","AUD":"tokenfed"}`, sig), false},
		{"header names differing only in case", tok(`{"alg":"RS256","ALG":"none"}`, pl, sig), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.token)
			if (err == nil) != tc.ok {
				t.Fatalf("got error %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// TestParseLargeTokenIsCheap: refusing an oversized token must not even
// allocate.
func TestParseLargeTokenIsCheap(t *testing.T) {
	huge := tok(hdr, `{"iss":"`+strings.Repeat("a", 1<<20)+`"}`, sig)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := peek(huge); !errors.Is(err, ErrMalformed) {
			t.Fatalf("got error %v, want %v", err, ErrMalformed)
		}
	})
	if allocs != 0 {
		t.Fatalf("got %v allocations, want 0", allocs)
	}
}

func BenchmarkParse(b *testing.B) {
	token := tok(hdr, pl, sig)
	for b.Loop() {
		if _, err := peek(token); err != nil {
			b.Fatal(err)
		}
	}
}

// peek is Parse's header, as routing sees it.
func peek(token string) (Header, error) {
	t, err := Parse(token)
	if err != nil {
		return Header{}, err
	}
	h := t.Header
	h.extension = false
	return h, nil
}
