package keyset

// Fuzz targets for the key parsers: a JWKS document (fetched from an
// issuer, or static) and a PEM bundle (static keys, as kube-apiserver's
// --service-account-key-file). `make fuzz` runs them for a set time each;
// `go test` runs their seeds and every crasher kept in testdata/fuzz/ as
// regular tests.
//
// Invariants, checked on every input and algorithm allow-list:
//   - parsing never panics;
//   - a refused document yields no keys, and a JWKS document's error is
//     bounded, whatever the document holds;
//   - an accepted set holds only keys of allowed types and sizes: RSA of at
//     least 2048 bits (at most go-jose's 4096 in a JWK) with an odd modulus
//     and an odd exponent from 3 to 2^31-1, EC points on P-256, P-384 or
//     P-521, Ed25519 keys of 32 bytes; each fits its bound algorithm, or
//     some allowed one, and that algorithm is allowed;
//   - no two different keys share a kid and an allowed algorithm;
//   - a JWK kept is listed without private members, with use sig or none,
//     and key_ops with verify or none, and no entry of the document
//     publishes its private half; a PEM key's kid is kube-apiserver's;
//   - parse -> marshal -> parse round-trips key IDs, algorithms and public
//     keys: as a JWKS for every set, and as PEM for PEM bundles.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// fuzzAlgorithms are every algorithm an allow-list may hold; a fuzz input
// picks its allow-list by a bit mask over them.
var fuzzAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// algMask is the mask of algs; allowList its inverse. An empty mask means
// RS256 and ES256, the tables' default.
func algMask(algs []string) uint16 {
	var m uint16
	for i, a := range fuzzAlgorithms {
		if slices.Contains(algs, a) {
			m |= 1 << i
		}
	}
	return m
}

func allowList(mask uint16) []string {
	var algs []string
	for i, a := range fuzzAlgorithms {
		if mask&(1<<i) != 0 {
			algs = append(algs, a)
		}
	}
	if len(algs) == 0 {
		return []string{"RS256", "ES256"}
	}
	return algs
}

func FuzzParseJWKS(f *testing.F) {
	parts := newJWKParts(f)
	for _, tc := range jwkRuleTests {
		f.Add([]byte(`{"keys":[`+parts.fill(f, tc.jwk)+`]}`), algMask(tc.algs))
	}
	for _, tc := range sharedKidTests {
		f.Add([]byte(parts.fill(f, `{"keys":[`+strings.Join(tc.keys, ",")+`]}`)), algMask(tc.algs))
	}
	for _, doc := range []string{
		`{"keys":[{<RSA>,"kid":"a"},{<RSA_PRIVATE>,"kid":"b"},{<EC256>,"kid":"c"}]}`,
		`{"keys":[{<ED>,"kid":"e","alg":"EdDSA"},{<EC384>,"kid":"e"},{<RSA_B>}]}`,
		`{"keys":[]}`, `{"keys":null}`, `{}`, `{"keys":{}}`, `{"keys":[1,"a",null,[]]}`, `{"keys":[{}]}`, `{`,
		`{"keys":[{<RSA>,"kid":"a"}],"keys":[]}`, `{"Keys":[{<RSA>,"kid":"a"}]}`,
	} {
		f.Add([]byte(parts.fill(f, doc)), uint16(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, mask uint16) {
		checkParse(t, data, allowList(mask))
	})
}

func FuzzParsePEM(f *testing.F) {
	for _, s := range pemSeeds(f) {
		f.Add(s.data, algMask(s.algs))
	}
	f.Fuzz(func(t *testing.T, data []byte, mask uint16) {
		checkParse(t, data, allowList(mask))
	})
}

type pemSeed struct {
	data []byte
	algs []string
}

// pemSeeds are the bundles of TestStaticPEM, and the other key types.
func pemSeeds(tb testing.TB) []pemSeed {
	rk, ek := testRSAKey(tb), testECKey(tb)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	pkix := func(pub any) []byte {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			tb.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	block := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	ecDER, err := x509.MarshalECPrivateKey(ek)
	if err != nil {
		tb.Fatal(err)
	}
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	return []pemSeed{
		{data: pkix(&rk.PublicKey)},
		{data: block("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rk.PublicKey))},
		{data: block("CERTIFICATE", selfSigned(tb, ek))},
		{data: cat(pkix(&rk.PublicKey), pkix(&ek.PublicKey))},
		{data: cat(pkix(&weakRSAKey(tb).PublicKey), pkix(&ek.PublicKey))},
		{data: pkix(&weakRSAKey(tb).PublicKey)},
		{data: pkix(&p384.PublicKey)},
		{data: pkix(&p384.PublicKey), algs: []string{"ES384"}},
		{data: pkix(edPub), algs: []string{"EdDSA"}},
		{data: block("EC PRIVATE KEY", ecDER)},
		{data: cat(pkix(&rk.PublicKey), []byte("junk"))},
		{data: []byte("\n")},
		{data: []byte("junk")},
		{data: cat(pkix(&rk.PublicKey), pkix(&rk.PublicKey), block("PUBLIC KEY", []byte{0x30, 0x00}))},
	}
}

// checkParse parses data as tokenfed parses static keys and fetched
// documents, and checks the invariants above.
func checkParse(t *testing.T, data []byte, algs []string) {
	p := policy{algs: algs}
	res, err := p.parseKeys(data)
	isJWKS := bytes.HasPrefix(bytes.TrimSpace(data), []byte("{"))
	if err != nil {
		if len(res.keys) != 0 {
			t.Fatalf("got %d keys with error %v, want none", len(res.keys), err)
		}
		if isJWKS && len(err.Error()) > maxJWKSError {
			t.Fatalf("got a %d-byte error for a JWKS document, want at most %d", len(err.Error()), maxJWKSError)
		}
		return
	}
	if len(res.keys) == 0 {
		t.Fatal("got no keys and no error")
	}
	for i, k := range res.keys {
		if msg := keyProblem(k, algs, isJWKS); msg != "" {
			t.Fatalf("key %d (kid %q): %s", i+1, k.KeyID, msg)
		}
	}
	checkNoSharedKid(t, res.keys, algs)
	if isJWKS {
		checkListedPublic(t, data, res.keys)
	} else {
		checkPEMKids(t, res.keys)
		checkRoundTrip(t, p, res.keys, marshalPEM(t, res.keys), false)
	}
	checkRoundTrip(t, p, res.keys, marshalJWKS(t, res.keys), true)
}

// maxJWKSError bounds the error a JWKS document can cause: at most five
// drops are listed, each quoting at most 40 runes of a kid and of an alg or
// use (see summarize, quote), every rune escaped at worst to 10 bytes.
const maxJWKSError = 8 << 10

// keyProblem says what is wrong with a kept key, or "".
func keyProblem(k Key, algs []string, fromJWK bool) string {
	switch pub := k.Public.(type) {
	case *rsa.PublicKey:
		switch bits := pub.N.BitLen(); {
		case bits < 2048 || (fromJWK && bits > jose.MaxRSAModulusBits):
			return "RSA key of " + strconv.Itoa(bits) + " bits"
		case pub.N.Bit(0) == 0:
			return "RSA modulus is even"
		case pub.E < 3 || pub.E%2 == 0 || pub.E > 1<<31-1:
			return "RSA exponent " + strconv.Itoa(pub.E)
		}
	case *ecdsa.PublicKey:
		if !slices.Contains([]elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()}, pub.Curve) {
			return "EC key on an unsupported curve"
		}
		if _, err := pub.ECDH(); err != nil {
			return "EC point not on its curve"
		}
	case ed25519.PublicKey:
		if len(pub) != ed25519.PublicKeySize {
			return "Ed25519 key of " + strconv.Itoa(len(pub)) + " bytes"
		}
	default:
		return fmt.Sprintf("key of type %T", k.Public)
	}
	if k.Algorithm != "" {
		if !slices.Contains(algs, k.Algorithm) || !algFits(k.Public, k.Algorithm) {
			return "bound to " + k.Algorithm + ", which is not allowed or does not fit it"
		}
		return ""
	}
	if !slices.ContainsFunc(algs, func(a string) bool { return algFits(k.Public, a) }) {
		return "no allowed algorithm fits it"
	}
	return ""
}

// algFits is RFC 7518's pairing of algorithms and key types, written out
// again here rather than taken from the package.
func algFits(pub crypto.PublicKey, alg string) bool {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		return alg == map[string]string{"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}[k.Curve.Params().Name]
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

func keyFits(k Key, alg string) bool {
	return (k.Algorithm == "" || k.Algorithm == alg) && algFits(k.Public, alg)
}

// checkNoSharedKid: a kid and an allowed algorithm name at most one key.
func checkNoSharedKid(t *testing.T, keys []Key, algs []string) {
	t.Helper()
	for i, a := range keys {
		for _, b := range keys[i+1:] {
			if a.KeyID == "" || a.KeyID != b.KeyID || a.Public.(interface{ Equal(crypto.PublicKey) bool }).Equal(b.Public) {
				continue
			}
			for _, alg := range algs {
				if keyFits(a, alg) && keyFits(b, alg) {
					t.Fatalf("kept two different keys of kid %q that both verify %s", a.KeyID, alg)
				}
			}
		}
	}
}

// checkListedPublic reads the document with encoding/json and wants each
// kept key listed by an entry a verifier may use, and no entry publishing
// its private half.
func checkListedPublic(t *testing.T, data []byte, keys []Key) {
	t.Helper()
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("kept keys from a document encoding/json cannot read: %v", err)
	}
	var entries []map[string]json.RawMessage
	for _, raw := range doc.Keys {
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) == nil && m != nil {
			entries = append(entries, m)
		}
	}
	for _, k := range keys {
		if !slices.ContainsFunc(entries, func(m map[string]json.RawMessage) bool { return usableEntry(m, k.KeyID) }) {
			t.Fatalf("kept kid %q, which no entry lists for verification without private members", k.KeyID)
		}
		for _, m := range entries {
			if priv := privateHalf(m); priv != nil && priv.Equal(k.Public) {
				t.Fatalf("kept kid %q although an entry publishes its private key", k.KeyID)
			}
		}
	}
}

func usableEntry(m map[string]json.RawMessage, kid string) bool {
	var got struct {
		Kty    string    `json:"kty"`
		Kid    string    `json:"kid"`
		Use    *string   `json:"use"`
		KeyOps *[]string `json:"key_ops"`
	}
	raw, _ := json.Marshal(m)
	if json.Unmarshal(raw, &got) != nil || got.Kid != kid || got.Kty == "oct" {
		return false
	}
	for _, name := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"} {
		if _, ok := m[name]; ok {
			return false
		}
	}
	return (got.Use == nil || *got.Use == "sig") && (got.KeyOps == nil || slices.Contains(*got.KeyOps, "verify"))
}

// privateHalf is the public key of an entry that carries "d", parsed by
// go-jose as a private key, or nil.
func privateHalf(m map[string]json.RawMessage) interface{ Equal(crypto.PublicKey) bool } {
	if _, ok := m["d"]; !ok {
		return nil
	}
	raw, _ := json.Marshal(m)
	var jwk jose.JSONWebKey
	if jwk.UnmarshalJSON(raw) != nil {
		return nil
	}
	signer, ok := jwk.Key.(crypto.Signer)
	if !ok {
		return nil
	}
	pub, _ := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	return pub
}

// checkPEMKids: a PEM key's kid is kube-apiserver's, the base64url SHA-256
// of its PKIX encoding, computed here again.
func checkPEMKids(t *testing.T, keys []Key) {
	t.Helper()
	for _, k := range keys {
		der, err := x509.MarshalPKIXPublicKey(k.Public)
		if err != nil {
			t.Fatalf("kept a PEM key PKIX cannot encode: %v", err)
		}
		sum := sha256.Sum256(der)
		if want := base64.RawURLEncoding.EncodeToString(sum[:]); k.KeyID != want || k.Algorithm != "" {
			t.Fatalf("got PEM key kid %q alg %q, want kid %q and no alg", k.KeyID, k.Algorithm, want)
		}
	}
}

func marshalJWKS(t *testing.T, keys []Key) []byte {
	t.Helper()
	set := jose.JSONWebKeySet{}
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Public, KeyID: k.KeyID, Algorithm: k.Algorithm, Use: "sig"})
	}
	data, err := json.Marshal(set)
	if err != nil {
		t.Fatalf("marshalling the kept keys: %v", err)
	}
	return data
}

func marshalPEM(t *testing.T, keys []Key) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, k := range keys {
		der, err := x509.MarshalPKIXPublicKey(k.Public)
		if err != nil {
			t.Fatalf("marshalling a kept key: %v", err)
		}
		_ = pem.Encode(&buf, &pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	return buf.Bytes()
}

// checkRoundTrip parses the kept keys again, marshalled, and wants the same
// keys in the same order, none dropped.
func checkRoundTrip(t *testing.T, p policy, want []Key, data []byte, asJWKS bool) {
	t.Helper()
	res, err := p.parseKeys(data)
	if err != nil || len(res.dropped) != 0 {
		t.Fatalf("kept keys marshalled (JWKS %v) parse again with error %v and drops %+v", asJWKS, err, res.dropped)
	}
	if len(res.keys) != len(want) {
		t.Fatalf("round trip (JWKS %v): got %d keys, want %d", asJWKS, len(res.keys), len(want))
	}
	for i, k := range res.keys {
		w := want[i]
		if k.KeyID != w.KeyID || k.Algorithm != w.Algorithm || !k.Public.(interface{ Equal(crypto.PublicKey) bool }).Equal(w.Public) {
			t.Fatalf("round trip (JWKS %v): key %d is kid %q alg %q, want kid %q alg %q and the same public key", asJWKS, i+1, k.KeyID, k.Algorithm, w.KeyID, w.Algorithm)
		}
	}
}

// TestFuzzSeedsReachEveryCheck: the PEM seeds alone reach both the checks
// on an accepted set and the refusals (the JWKS seeds are jwkRuleTests,
// which TestJWKRules runs both ways).
func TestFuzzSeedsReachEveryCheck(t *testing.T) {
	accepted, refused := 0, 0
	for _, s := range pemSeeds(t) {
		if _, err := (policy{algs: allowList(algMask(s.algs))}).parseKeys(s.data); err == nil {
			accepted++
		} else {
			refused++
		}
	}
	if accepted < 5 || refused < 5 {
		t.Fatalf("got %d PEM seeds accepted and %d refused, want at least 5 of each", accepted, refused)
	}
}
