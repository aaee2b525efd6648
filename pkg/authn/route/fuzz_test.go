package route_test

// Fuzz targets for routing: a token's one spelling (Canonical), the issuer
// its parsed header routes to (Router), and whether a token that is no JWS
// may be treated as opaque (CheckOpaque). Parsing itself is fuzzed by
// FuzzParse in pkg/authn/jws. They use the exported API only. `make fuzz`
// runs them for a set time each; `go test` runs their seeds and every
// crasher kept in testdata/fuzz/ as regular tests.
//
// Invariants, checked on every input:
//   - nothing panics;
//   - Canonical is idempotent and only trims: its answer is the input
//     without surrounding whitespace;
//   - the Router picks, for a token jws.Parse accepts, only an issuer that
//     claims its iss, and one Candidates names too;
//   - a token jws.Parse calls not a JWT and CheckOpaque lets through holds
//     no JWT header or payload: no '.'-separated segment, as it is or
//     base64-decoded (either alphabet, padded or not), is a JSON object
//     with members or a token jws.Parse accepts;
//   - no error quotes the token or one of its segments.

import (
	"context"
	"encoding/base64"
	"encoding/hex"
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

// compact and the fuzz shapes are the parser tests' (jwstest).
var compact = jwstest.Compact

const fuzzHeader, fuzzPayload, fuzzSig = jwstest.Header, jwstest.Payload, jwstest.Signature

// tokenSeeds are the shapes of the attack tables (canonical_test.go,
// pkg/authn/jws's parse_test.go, test/security/attacks_test.go): valid
// tokens of every routing case, refused spellings, and JWTs mangled into
// something that looks opaque.
func tokenSeeds() []string {
	valid := compact(fuzzHeader, fuzzPayload, fuzzSig)
	segs := strings.Split(valid, ".")
	std := base64.StdEncoding.EncodeToString
	seeds := []string{
		valid,
		compact(`{"alg":"ES256","crit":["x"],"jku":"https://j","x5u":"https://u"}`, `{}`, fuzzSig),
		compact(" "+fuzzHeader, "\n  "+fuzzPayload, fuzzSig),
		compact(fuzzHeader, `{"iss":"https://a","x":{"k":1,"K":2}}`, fuzzSig),
		// Routing: an iss shared by two issuers and told apart by kid,
		// the legacy iss, and Google's scheme-less one.
		compact(`{"alg":"RS256","kid":"shared-a"}`, `{"iss":"https://shared.example"}`, fuzzSig),
		compact(`{"alg":"ES256","kid":"shared-b"}`, `{"iss":"https://shared.example","sub":"x"}`, fuzzSig),
		compact(`{"alg":"RS256","kid":"both"}`, `{"iss":"https://shared.example"}`, fuzzSig),
		compact(`{"alg":"RS256"}`, `{"iss":"https://shared.example"}`, fuzzSig),
		compact(`{"alg":"RS256","kid":"legacy"}`, `{"iss":"kubernetes/serviceaccount"}`, fuzzSig),
		compact(`{"alg":"RS256"}`, `{"iss":"accounts.google.com"}`, fuzzSig),
		// Refused spellings.
		"", " \n\t", "Bearer " + valid, "bearer\t" + valid, valid + "\n", "\u00a0" + valid + "\u2028",
		valid[:10] + "\n" + valid[10:], "\ufeff" + valid, valid + "\x7f", "bearerabc",
		valid + ".x", segs[0] + ".a.b.c.d", segs[0] + "." + segs[1] + "." + fuzzSig + "==",
		segs[0] + "." + base64.URLEncoding.EncodeToString([]byte(fuzzPayload)) + "." + fuzzSig,
		segs[0] + "." + segs[1] + ".AB", segs[0] + ".." + fuzzSig, compact(`{"alg":"none"}`, fuzzPayload, ""),
		compact(`{"kid":"k1"}`, fuzzPayload, fuzzSig), compact(`{"alg":1}`, fuzzPayload, fuzzSig),
		compact(`{"alg":"RS256","kid":"a","kid":"b"}`, fuzzPayload, fuzzSig),
		compact(fuzzHeader, `{"iss":"https://a","\u0069ss":"https://b"}`, fuzzSig),
		compact(fuzzHeader, `{"aud":"app-x","iss":"https://a","AUD":"tokenfed"}`, fuzzSig),
		compact(fuzzHeader, `{"iss":"https://a","sub":"x","\u017fub":"y"}`, fuzzSig),
		compact(`{"alg":"RS256","kid":"a","\u212aid":"b"}`, fuzzPayload, fuzzSig),
		compact(fuzzHeader, `{"iss":["https://a"]}`, fuzzSig), compact(fuzzHeader, fuzzPayload+`{}`, fuzzSig),
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

func FuzzRoute(f *testing.F) {
	for _, s := range tokenSeeds() {
		f.Add(s)
	}
	router := fuzzRouter(f)
	f.Fuzz(func(t *testing.T, token string) {
		checkCanonical(t, token)
		c, err := route.Canonical(token)
		if err != nil {
			return
		}
		tok, err := jws.Parse(c)
		if err != nil {
			return
		}
		checkRoute(t, router, tok.Header, c)
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
		if _, err := jws.Parse(c); !errors.Is(err, jws.ErrNotJWT) {
			return
		}
		err = route.CheckOpaque(c)
		checkQuotesNothing(t, "CheckOpaque", err, c)
		if err != nil {
			if !errors.Is(err, jws.ErrMalformed) {
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
		if c != "" || (!errors.Is(err, route.ErrEmpty) && !errors.Is(err, jws.ErrMalformed)) {
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

// checkHoldsNoJWT: an opaque token may go to the opaque upstream, so no
// segment of it may be, or decode to, a JWT's header or payload.
func checkHoldsNoJWT(t *testing.T, token string) {
	t.Helper()
	for i, seg := range strings.Split(token, ".") {
		for _, text := range decodings(seg) {
			if isObjectWithMembers(text) {
				t.Fatalf("CheckOpaque let through a token whose segment %d decodes to a JSON object", i+1)
			}
			if _, err := jws.Parse(strings.TrimSpace(string(text))); err == nil {
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
func checkRoute(t *testing.T, r *route.Router, h jws.Header, token string) {
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
		tok, err := jws.Parse(s)
		switch {
		case err == nil:
			name, err := r.Route(context.Background(), tok.Header)
			reached["routed to "+name] = reached["routed to "+name] || err == nil
		case errors.Is(err, jws.ErrNotJWT):
			reached["not a JWT"] = true
			if c, err := route.Canonical(s); err == nil {
				reached["opaque let through"] = reached["opaque let through"] || route.CheckOpaque(c) == nil
				reached["opaque refused"] = reached["opaque refused"] || route.CheckOpaque(c) != nil
			}
		default:
			reached["refused by Parse"] = true
		}
	}
	want := []string{"not a JWT", "refused by Parse", "opaque let through", "opaque refused"}
	for _, c := range fuzzCandidates {
		want = append(want, "routed to "+c.Name)
	}
	for _, w := range want {
		if !reached[w] {
			t.Errorf("no seed reached %q; reached %v", w, reached)
		}
	}
}
