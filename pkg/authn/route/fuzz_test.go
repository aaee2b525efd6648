package route_test

// Fuzz targets for token peek and routing. They use the exported API only
// (Canonical, Peek, CheckEncoding, CheckOpaque, Router), so this one file
// moves with compact-JWS parsing wherever it goes. `make fuzz` runs them
// for a set time each; `go test` runs their seeds and every crasher kept in
// testdata/fuzz/ as regular tests.
//
// Invariants, checked on every input:
//   - nothing panics;
//   - Canonical is idempotent and only trims: its answer is the input
//     without surrounding whitespace;
//   - Peek never accepts a token that CheckEncoding refuses, and a token it
//     accepts is its own canonical spelling: every segment re-encodes to
//     itself, and Canonical leaves it alone;
//   - the header Peek reports is what an independent JSON decode of the
//     header and payload reads;
//   - the Router picks, for an accepted token, only an issuer that claims
//     its iss, and one Candidates names too;
//   - a token Peek calls not a JWT and CheckOpaque lets through holds no
//     JWT header or payload: no '.'-separated segment, as it is or
//     base64-decoded (either alphabet, padded or not), is a JSON object
//     with members or a token Peek accepts;
//   - no error quotes the token or one of its segments.

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tokenfed/tokenfed/pkg/authn/route"
)

var b64 = base64.RawURLEncoding.EncodeToString

// jws joins a header and a payload, base64url-encoded, with sig verbatim.
func jws(header, payload, sig string) string {
	return b64([]byte(header)) + "." + b64([]byte(payload)) + "." + sig
}

const (
	fuzzHeader  = `{"alg":"RS256","kid":"k1","typ":"JWT"}`
	fuzzPayload = `{"iss":"https://a.example","sub":"x"}`
	fuzzSig     = "-__-AQ"
)

// tokenSeeds are the shapes of the attack tables (peek_test.go,
// canonical_test.go, test/security/attacks_test.go): valid tokens of every
// routing case, every refused spelling, and JWTs mangled into something
// that looks opaque.
func tokenSeeds() []string {
	valid := jws(fuzzHeader, fuzzPayload, fuzzSig)
	segs := strings.Split(valid, ".")
	std := base64.StdEncoding.EncodeToString
	seeds := []string{
		valid,
		jws(`{"alg":"ES256","crit":["x"],"jku":"https://j","x5u":"https://u"}`, `{}`, fuzzSig),
		jws(" "+fuzzHeader, "\n  "+fuzzPayload, fuzzSig),
		jws(fuzzHeader, `{"iss":"https://a","x":{"k":1,"K":2}}`, fuzzSig),
		// Routing: an iss shared by two issuers and told apart by kid,
		// the legacy iss, and Google's scheme-less one.
		jws(`{"alg":"RS256","kid":"shared-a"}`, `{"iss":"https://shared.example"}`, fuzzSig),
		jws(`{"alg":"ES256","kid":"shared-b"}`, `{"iss":"https://shared.example","sub":"x"}`, fuzzSig),
		jws(`{"alg":"RS256","kid":"both"}`, `{"iss":"https://shared.example"}`, fuzzSig),
		jws(`{"alg":"RS256"}`, `{"iss":"https://shared.example"}`, fuzzSig),
		jws(`{"alg":"RS256","kid":"legacy"}`, `{"iss":"kubernetes/serviceaccount"}`, fuzzSig),
		jws(`{"alg":"RS256"}`, `{"iss":"accounts.google.com"}`, fuzzSig),
		// Refused spellings.
		"", " \n\t", "Bearer " + valid, "bearer\t" + valid, valid + "\n", "\u00a0" + valid + "\u2028",
		valid[:10] + "\n" + valid[10:], "\ufeff" + valid, valid + "\x7f", "bearerabc",
		valid + ".x", segs[0] + ".a.b.c.d", segs[0] + "." + segs[1] + "." + fuzzSig + "==",
		segs[0] + "." + base64.URLEncoding.EncodeToString([]byte(fuzzPayload)) + "." + fuzzSig,
		segs[0] + "." + segs[1] + ".AB", segs[0] + ".." + fuzzSig, jws(`{"alg":"none"}`, fuzzPayload, ""),
		jws(`{"kid":"k1"}`, fuzzPayload, fuzzSig), jws(`{"alg":1}`, fuzzPayload, fuzzSig),
		jws(`{"alg":"RS256","kid":"a","kid":"b"}`, fuzzPayload, fuzzSig),
		jws(fuzzHeader, `{"iss":"https://a","\u0069ss":"https://b"}`, fuzzSig),
		jws(fuzzHeader, `{"aud":"app-x","iss":"https://a","AUD":"tokenfed"}`, fuzzSig),
		jws(fuzzHeader, `{"iss":"https://a","sub":"x","\u017fub":"y"}`, fuzzSig),
		jws(`{"alg":"RS256","kid":"a","\u212aid":"b"}`, fuzzPayload, fuzzSig),
		jws(fuzzHeader, `{"iss":["https://a"]}`, fuzzSig), jws(fuzzHeader, fuzzPayload+`{}`, fuzzSig),
		b64([]byte(`{"alg":"RSA-OAEP","enc":"A256GCM"}`)) + ".AAAA.BBBB.CCCC.DDDD",
		"garbage", "a.b.c", "eyJ.eyJ.eyJ", "e...", "e\x00\x01.\u202e.\xff",
		// Opaque tokens, and JWTs mangled to look like one.
		"sha256~Xb5sYw9kF0cQ-aZ_1n2pQ3rS4tU5vW6xY7z8AbCdEfG", "abcdef.0123456789abcdef",
		"ghp_16C7e42F292c6912E7710c838347Ae178B4a", "c2VjcmV0LXRva2Vu==", "3f786850e387550fdab836ed7e6dc881de23001b",
		segs[0] + "." + segs[1], segs[1] + "." + segs[2], segs[1], segs[2] + "." + segs[1] + "." + segs[0],
		strings.ReplaceAll(valid, ".", "~"), "xyz" + valid, "a" + segs[0], strings.ToUpper(valid),
		std([]byte(fuzzHeader)) + "." + std([]byte(fuzzPayload)), std([]byte(valid + "\n")),
		hex.EncodeToString([]byte(valid)), strings.ReplaceAll(valid, ".", "%2E"), `"` + valid + `"`,
		`{"payload":"` + segs[1] + `","protected":"` + segs[0] + `","signature":"` + segs[2] + `"}`,
		// A claims set whose first claim is named outside ASCII, cut from
		// its header: found by FuzzCheckOpaque.
		b64([]byte(`{"ñame":"x","iss":"https://a.example"}`)) + "." + segs[2],
		"Bearer:" + valid, "Bearer" + valid, "abc%41def", "==", "ab=cd", "eyIiOjB9", "x.eyIiOjB9",
	}
	return seeds
}

func FuzzPeek(f *testing.F) {
	for _, s := range tokenSeeds() {
		f.Add(s)
	}
	router := fuzzRouter(f)
	f.Fuzz(func(t *testing.T, token string) {
		checkCanonical(t, token)
		h, err := route.Peek(token)
		checkQuotesNothing(t, "Peek", err, token)
		encErr := route.CheckEncoding(token)
		checkQuotesNothing(t, "CheckEncoding", encErr, token)
		if err != nil {
			if !errors.Is(err, route.ErrNotJWT) && !errors.Is(err, route.ErrEncrypted) && !errors.Is(err, route.ErrMalformed) {
				t.Fatalf("Peek: got error %v, want ErrNotJWT, ErrEncrypted or ErrMalformed", err)
			}
			return
		}
		if encErr != nil {
			t.Fatalf("Peek accepted a token CheckEncoding refuses: %v", encErr)
		}
		checkOneSpelling(t, token)
		checkHeader(t, token, h)
		checkRoute(t, router, h, token)
	})
}

func FuzzCheckOpaque(f *testing.F) {
	for _, s := range tokenSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := route.Canonical(token)
		if err != nil {
			return
		}
		if _, err := route.Peek(c); !errors.Is(err, route.ErrNotJWT) {
			return
		}
		err = route.CheckOpaque(c)
		checkQuotesNothing(t, "CheckOpaque", err, c)
		if err != nil {
			if !errors.Is(err, route.ErrMalformed) {
				t.Fatalf("CheckOpaque: got error %v, want one wrapping ErrMalformed", err)
			}
			return
		}
		checkHoldsNoJWT(t, c)
	})
}

// checkCanonical: Canonical only trims what kube-apiserver trims, and its
// answer is canonical already.
func checkCanonical(t *testing.T, token string) {
	t.Helper()
	c, err := route.Canonical(token)
	checkQuotesNothing(t, "Canonical", err, token)
	if err != nil {
		if c != "" || (!errors.Is(err, route.ErrEmpty) && !errors.Is(err, route.ErrMalformed)) {
			t.Fatalf("Canonical: got %d bytes and error %v, want nothing and ErrEmpty or ErrMalformed", len(c), err)
		}
		return
	}
	if c != strings.TrimSpace(token) || c == "" {
		t.Fatalf("Canonical: got %q from %q, want the token without surrounding whitespace", c, token)
	}
	if again, err := route.Canonical(c); again != c || err != nil {
		t.Fatalf("Canonical is not idempotent: %q gives %q, %v", c, again, err)
	}
}

// checkOneSpelling: a token Peek accepts is three segments of canonical
// unpadded base64url, so no other spelling of it is accepted.
func checkOneSpelling(t *testing.T, token string) {
	t.Helper()
	if c, err := route.Canonical(token); c != token || err != nil {
		t.Fatalf("Peek accepted a token Canonical changes: %v", err)
	}
	segs := strings.Split(token, ".")
	if len(segs) != 3 {
		t.Fatalf("Peek accepted %d segments, want 3", len(segs))
	}
	for i, s := range segs {
		raw, err := base64.RawURLEncoding.Strict().DecodeString(s)
		if err != nil || b64(raw) != s {
			t.Fatalf("Peek accepted segment %d, which does not re-encode to itself (%v)", i+1, err)
		}
	}
}

// checkHeader decodes the header and payload with encoding/json into maps,
// which keep every member name as spelt, and wants what Peek reported.
func checkHeader(t *testing.T, token string, h route.Header) {
	t.Helper()
	segs := strings.Split(token, ".")
	header, payload := decodeObject(t, segs[0]), decodeObject(t, segs[1])
	for name, got := range map[string]string{"alg": h.Alg, "kid": h.Kid, "typ": h.Typ, "jku": h.JKU, "x5u": h.X5U} {
		if want, _ := header[name].(string); got != want {
			t.Fatalf("Peek read header %s %q, encoding/json reads %q", name, got, want)
		}
	}
	if h.Alg == "" {
		t.Fatal("Peek accepted a header without alg")
	}
	var crit []string
	if list, ok := header["crit"].([]any); ok {
		for _, c := range list {
			name, _ := c.(string) // null reads as ""
			crit = append(crit, name)
		}
	}
	if !slices.Equal(h.Crit, crit) {
		t.Fatalf("Peek read crit %q, encoding/json reads %q", h.Crit, crit)
	}
	if want, _ := payload["iss"].(string); h.Issuer != want {
		t.Fatalf("Peek read iss %q, encoding/json reads %q", h.Issuer, want)
	}
}

func decodeObject(t *testing.T, seg string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("Peek accepted a segment that does not decode: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		t.Fatalf("Peek accepted a segment that is not a JSON object: %v", err)
	}
	return m
}

// checkHoldsNoJWT: an opaque token may go to the opaque upstream, so no
// segment of it may be, or decode to, a JWT's header or payload.
func checkHoldsNoJWT(t *testing.T, token string) {
	t.Helper()
	for i, seg := range strings.Split(token, ".") {
		for _, text := range decodings(seg) {
			if isObjectWithMembers(text) {
				t.Fatalf("CheckOpaque let through a token whose segment %d decodes to a JSON object", i+1)
			}
			if _, err := route.Peek(strings.TrimSpace(string(text))); err == nil {
				t.Fatalf("CheckOpaque let through a token whose segment %d decodes to a JWT", i+1)
			}
		}
	}
}

// decodings are seg as it is and base64-decoded in either alphabet, with
// or without padding; a last character that completes no byte is dropped.
func decodings(seg string) [][]byte {
	out := [][]byte{[]byte(seg)}
	s := strings.NewReplacer("-", "+", "_", "/").Replace(strings.TrimRight(seg, "="))
	if len(s)%4 == 1 {
		s = s[:len(s)-1]
	}
	if raw, err := base64.RawStdEncoding.DecodeString(s); err == nil && len(raw) > 0 {
		out = append(out, raw)
	}
	return out
}

// isObjectWithMembers reports whether b is a JSON object with at least one
// member: every JOSE header has alg, every claims set worth sending has
// a claim. "{}" is left out: it names nobody, and "e30" is an ordinary
// opaque token.
func isObjectWithMembers(b []byte) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(b, &m) == nil && len(m) > 0
}

// checkQuotesNothing: an error never holds the token or one of its
// segments. Pieces under 16 bytes or with a space are left out, because
// error texts are made of such words ("malformed", "token").
func checkQuotesNothing(t *testing.T, fn string, err error, token string) {
	t.Helper()
	if err == nil {
		return
	}
	pieces := append([]string{token}, strings.Split(token, ".")...)
	for _, p := range pieces {
		if len(p) >= 16 && !strings.ContainsAny(p, " ") && strings.Contains(err.Error(), p) {
			t.Fatalf("%s: the error quotes the token: %d bytes of it", fn, len(p))
		}
	}
}

// staticKeys are an issuer's keys as routing sees them, fixed: routing
// with them needs no network.
type staticKeys struct{ assigned, fetched []string }

func (k staticKeys) Claim(kid string) route.Claim {
	switch {
	case slices.Contains(k.assigned, kid):
		return route.Assigned
	case slices.Contains(k.fetched, kid):
		return route.Fetched
	}
	return route.NoClaim
}

func (staticKeys) MayHold(string) bool         { return false }
func (staticKeys) Refetch(ctx context.Context) {}

// fuzzCandidates cover every routing case: an iss of one issuer, one shared
// by two told apart by kid (one kid both list), the legacy iss shared by
// nature, and Google's iss that a scheme-less one is coalesced to.
var fuzzCandidates = []route.Candidate{
	{Name: "plain", IssuerURLs: []string{"https://a.example", "https://a"}},
	{Name: "shared-a", IssuerURLs: []string{"https://shared.example"}, Keys: staticKeys{assigned: []string{"shared-a"}, fetched: []string{"both"}}},
	{Name: "shared-b", IssuerURLs: []string{"https://shared.example"}, Keys: staticKeys{fetched: []string{"shared-b", "both"}}},
	{Name: "legacy", IssuerURLs: []string{"kubernetes/serviceaccount"}, Keys: staticKeys{fetched: []string{"legacy"}}},
	{Name: "google", IssuerURLs: []string{"https://accounts.google.com"}},
}

func fuzzRouter(f *testing.F) *route.Router {
	r, err := route.NewRouter(fuzzCandidates)
	if err != nil {
		f.Fatal(err)
	}
	return r
}

// checkRoute: an issuer is picked only if it claims the token's iss (or
// Google's iss for the scheme-less one), and Candidates names it.
func checkRoute(t *testing.T, r *route.Router, h route.Header, token string) {
	t.Helper()
	name, err := r.Route(context.Background(), h)
	checkQuotesNothing(t, "Route", err, token)
	candidates := r.Candidates(h)
	if err != nil {
		return
	}
	iss := h.Issuer
	if iss == "accounts.google.com" {
		iss = "https://accounts.google.com"
	}
	i := slices.IndexFunc(fuzzCandidates, func(c route.Candidate) bool { return c.Name == name })
	if i < 0 || !slices.Contains(fuzzCandidates[i].IssuerURLs, iss) {
		t.Fatalf("Route picked %q for iss %q, which it does not claim", name, h.Issuer)
	}
	if !slices.Contains(candidates, name) {
		t.Fatalf("Route picked %q, Candidates named %q", name, candidates)
	}
}

// TestFuzzSeedsReachEveryCheck: the seeds alone reach every invariant
// above: accepted tokens routed to each issuer, refusals by each check,
// and opaque tokens let through.
func TestFuzzSeedsReachEveryCheck(t *testing.T) {
	r, err := route.NewRouter(fuzzCandidates)
	if err != nil {
		t.Fatal(err)
	}
	reached := map[string]bool{}
	for _, s := range tokenSeeds() {
		h, err := route.Peek(s)
		switch {
		case err == nil:
			name, err := r.Route(context.Background(), h)
			reached["routed to "+name] = reached["routed to "+name] || err == nil
		case errors.Is(err, route.ErrNotJWT):
			reached["not a JWT"] = true
			if c, err := route.Canonical(s); err == nil {
				reached["opaque let through"] = reached["opaque let through"] || route.CheckOpaque(c) == nil
				reached["opaque refused"] = reached["opaque refused"] || route.CheckOpaque(c) != nil
			}
		default:
			reached["refused by Peek"] = true
		}
	}
	want := []string{"not a JWT", "refused by Peek", "opaque let through", "opaque refused"}
	for _, c := range fuzzCandidates {
		want = append(want, "routed to "+c.Name)
	}
	for _, w := range want {
		if !reached[w] {
			t.Errorf("no seed reached %q; reached %v", w, reached)
		}
	}
}
