package keyset

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"sort"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// jwkParts are the member fragments test tables write JWKs with: a table
// entry is pure data such as `{<RSA>,"kid":"a","alg":"HS256"}`, and fill
// expands the <NAME> placeholders. material holds every key-material value,
// which no error may ever contain.
type jwkParts struct {
	parts    map[string]string
	material []string
	// signers hold the private keys of the public fragments that can sign.
	signers map[string]any
}

func newJWKParts(t testing.TB) *jwkParts {
	t.Helper()
	p := &jwkParts{parts: map[string]string{}, signers: map[string]any{}}
	rsa2048, ec256 := testRSAKey(t), testECKey(t)
	ec384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.add(t, "RSA", rsa2048.Public(), rsa2048)
	p.add(t, "RSA_B", otherRSAKey(t).Public(), otherRSAKey(t))
	p.add(t, "RSA1024", weakRSAKey(t).Public(), nil)
	p.add(t, "EC256", ec256.Public(), ec256)
	p.add(t, "EC384", ec384.Public(), ec384)
	p.add(t, "ED", edPub, edPriv)
	p.add(t, "RSA_PRIVATE", rsa2048, nil)
	p.add(t, "EC_PRIVATE", ec256, nil)
	p.add(t, "ED_PRIVATE", edPriv, nil)
	p.addRaw(t, ec256)
	return p
}

// add records the members of key's JWK under name.
func (p *jwkParts) add(t testing.TB, name string, key, signer any) {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKey{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	p.addMembers(t, name, b)
	if signer != nil {
		p.signers[name] = signer
	}
}

func (p *jwkParts) addMembers(t testing.TB, name string, doc []byte) {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	p.parts[name] = members(m)
	for k, v := range m {
		if k != "kty" && k != "crv" && k != "e" {
			p.material = append(p.material, v)
		}
	}
}

// members renders m as JSON object members without the braces, sorted so a
// failure shows the same text every run.
func members(m map[string]string) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]string, len(names))
	for i, k := range names {
		out[i] = quoteJSON(k) + ":" + quoteJSON(m[k])
	}
	return strings.Join(out, ",")
}

func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// addRaw adds fragments no honest encoder produces: an RSA modulus that is
// even or too long, a point off its curve, and certificates.
func (p *jwkParts) addRaw(t testing.TB, ec *ecdsa.PrivateKey) {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	n := testRSAKey(t).N.Bytes()
	p.parts["N"] = enc(n)
	even := append([]byte(nil), n...)
	even[len(even)-1] &^= 1
	p.parts["N_EVEN"] = enc(even)
	huge := make([]byte, jose.MaxRSAModulusBits/8+8)
	huge[0], huge[len(huge)-1] = 0xff, 0x01
	p.parts["N_HUGE"] = enc(huge)

	size := (ec.Curve.Params().BitSize + 7) / 8
	y := new(big.Int).Add(ec.Y, big.NewInt(1)).FillBytes(make([]byte, size))
	p.parts["EC_OFF_CURVE"] = members(map[string]string{
		"kty": "EC", "crv": "P-256", "x": enc(ec.X.FillBytes(make([]byte, size))), "y": enc(y),
	})
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.parts["CERT_EC256"] = base64.StdEncoding.EncodeToString(selfSigned(t, ec))
	p.parts["CERT_OTHER"] = base64.StdEncoding.EncodeToString(selfSigned(t, other))
}

func selfSigned(t testing.TB, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "jwk"}, NotAfter: epoch}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// fill expands <NAME> placeholders.
func (p *jwkParts) fill(t testing.TB, s string) string {
	t.Helper()
	for name, v := range p.parts {
		s = strings.ReplaceAll(s, "<"+name+">", v)
	}
	if i := strings.Index(s, "<"); i >= 0 && strings.Contains(s[i:], ">") {
		t.Fatalf("unknown placeholder in %s", s)
	}
	return s
}

// leak returns the key material err contains, if any.
func (p *jwkParts) leak(err error) string {
	if err == nil {
		return ""
	}
	for _, m := range p.material {
		if len(m) >= 8 && strings.Contains(err.Error(), m) {
			return m
		}
	}
	return ""
}
