package keyset

import (
	"github.com/tokenfed/tokenfed/pkg/authn/jws"

	"context"
	"crypto"
	"errors"
	"testing"
)

// kidLookup asks the set for kid and alg; want names the fragment whose key
// must come back, or wantErr the error.
type kidLookup struct {
	kid, alg string
	want     string
	wantErr  error
}

// sharedKidTests: keys sharing a kid are kept only while a kid and an alg
// name one key.
var sharedKidTests = []struct {
	name    string
	keys    []string
	algs    []string
	lookups []kidLookup
	// wantDropped is Status.Dropped, or the load error when wantNoKeys.
	wantDropped string
	wantNoKeys  bool
}{
	{
		name: "RSA and EC share a kid (RFC 7517 §4.5)",
		keys: []string{`{<RSA>,"kid":"a"}`, `{<EC256>,"kid":"a"}`},
		lookups: []kidLookup{
			{kid: "a", alg: "RS256", want: "RSA"},
			{kid: "a", alg: "ES256", want: "EC256"},
		},
	},
	{
		name: "the same key listed twice",
		keys: []string{`{<RSA>,"kid":"a","alg":"RS256"}`, `{<RSA>,"kid":"a"}`},
		lookups: []kidLookup{
			{kid: "a", alg: "RS256", want: "RSA"},
			{kid: "", alg: "RS256", want: "RSA"},
		},
	},
	{
		name:        "two RSA keys share a kid",
		keys:        []string{`{<RSA>,"kid":"a"}`, `{<RSA_B>,"kid":"a"}`},
		wantNoKeys:  true,
		wantDropped: `no usable keys: 2 keys dropped: kid "a": shares its kid with another key for RS256; kid "a": shares its kid with another key for RS256`,
	},
	{
		name: "two RSA keys and an EC key share a kid",
		keys: []string{`{<RSA>,"kid":"a"}`, `{<EC256>,"kid":"a"}`, `{<RSA_B>,"kid":"a"}`},
		lookups: []kidLookup{
			{kid: "a", alg: "RS256", wantErr: jws.ErrAlgorithm},
			{kid: "a", alg: "ES256", want: "EC256"},
		},
		wantDropped: `2 keys dropped: kid "a": shares its kid with another key for RS256; kid "a": shares its kid with another key for RS256`,
	},
	{
		name: "one RSA key per algorithm",
		keys: []string{`{<RSA>,"kid":"a","alg":"RS256"}`, `{<RSA_B>,"kid":"a","alg":"PS256"}`},
		algs: []string{"RS256", "PS256"},
		lookups: []kidLookup{
			{kid: "a", alg: "RS256", want: "RSA"},
			{kid: "a", alg: "PS256", want: "RSA_B"},
		},
	},
	{
		name:        "a key without alg contests one with",
		keys:        []string{`{<RSA>,"kid":"a","alg":"RS256"}`, `{<RSA_B>,"kid":"a"}`, `{<EC256>,"kid":"b"}`},
		algs:        []string{"PS256", "RS256", "ES256"},
		lookups:     []kidLookup{{kid: "a", alg: "RS256", wantErr: ErrUnknownKey}, {kid: "b", alg: "ES256", want: "EC256"}},
		wantDropped: `2 keys dropped: kid "a": shares its kid with another key for RS256; kid "a": shares its kid with another key for RS256`,
	},
	{
		name: "kids differ only in case",
		keys: []string{`{<RSA>,"kid":"a"}`, `{<RSA_B>,"kid":"A"}`},
		lookups: []kidLookup{
			{kid: "a", alg: "RS256", want: "RSA"},
			{kid: "A", alg: "RS256", want: "RSA_B"},
		},
	},
	{
		name: "kid-less keys stay; a kid-less token cannot pick",
		keys: []string{`{<RSA>}`, `{<RSA_B>}`, `{<EC256>}`},
		lookups: []kidLookup{
			{kid: "", alg: "RS256", wantErr: ErrAmbiguousKey},
			{kid: "", alg: "ES256", want: "EC256"},
		},
	},
	{
		name:        "a dropped key does not contest",
		keys:        []string{`{<RSA>,"kid":"a"}`, `{<RSA_B>,"kid":"a","use":"enc"}`},
		lookups:     []kidLookup{{kid: "a", alg: "RS256", want: "RSA"}},
		wantDropped: `1 key dropped: kid "a": use "enc" is not sig`,
	},
}

func TestSharedKids(t *testing.T) {
	parts := newJWKParts(t)
	for _, tc := range sharedKidTests {
		t.Run(tc.name, func(t *testing.T) {
			algs := tc.algs
			if algs == nil {
				algs = []string{"RS256", "ES256"}
			}
			doc := `{"keys":[`
			for i, k := range tc.keys {
				if i > 0 {
					doc += ","
				}
				doc += parts.fill(t, k)
			}
			ks, err := New(Options{IssuerName: "test", StaticJWKS: []byte(doc + "]}"), Algorithms: algs})
			if tc.wantNoKeys {
				if err == nil || !errors.Is(err, errNoUsableKeys) || err.Error() != "keyset test: "+tc.wantDropped {
					t.Fatalf("got error %v, want %q", err, tc.wantDropped)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if got := ks.Status().Dropped; got != tc.wantDropped {
				t.Fatalf("got dropped %q, want %q", got, tc.wantDropped)
			}
			for _, l := range tc.lookups {
				checkLookup(t, ks, parts, l)
			}
		})
	}
}

func checkLookup(t *testing.T, ks *KeySet, parts *jwkParts, l kidLookup) {
	t.Helper()
	got, err := ks.Key(context.Background(), l.kid, l.alg)
	if !errors.Is(err, l.wantErr) {
		t.Fatalf("Key(%q, %s): got error %v, want %v", l.kid, l.alg, err, l.wantErr)
	}
	if l.want == "" {
		return
	}
	want := parts.signers[l.want].(crypto.Signer).Public()
	if !samePublic(got, want) {
		t.Fatalf("Key(%q, %s): got another key than %s", l.kid, l.alg, l.want)
	}
}
