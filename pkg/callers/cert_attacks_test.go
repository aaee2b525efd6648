package callers

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
)

// TestRefusalForTimeEndsOnceValid: a certificate refused only because the
// server's clock had not reached its NotBefore (a freshly issued
// certificate and a few seconds of skew) is admitted on the same
// connection once it is valid, as kube-apiserver's per-request check
// would: a refusal is remembered for refusalTTL only.
func TestRefusalForTimeEndsOnceValid(t *testing.T) {
	ca, err := devcerts.NewCA("test-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert := certFor(t, ca, "member-a", nil, "")
	chain := []*x509.Certificate{cert}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	opts := x509.VerifyOptions{Roots: roots}
	users := newCertUsers(maxCertUsers)

	// First request: the server's clock is 2s behind the issuer's.
	if _, ok, _ := users.user(chain, opts, cert.NotBefore.Add(-2*time.Second)); ok {
		t.Fatal("admitted before NotBefore")
	}
	// The same connection, a minute later: the certificate is now valid.
	if _, ok, err := users.user(chain, opts, cert.NotBefore.Add(time.Minute)); !ok || err != nil {
		t.Errorf("got ok=%v err=%v for a certificate now within its validity on the same connection, want a user: a refusal for time is remembered until the CA changes", ok, err)
	}
}

// attackerChain is what an unauthenticated client can send in one
// Certificate message (under crypto/tls's 256 KiB limit): a leaf naming
// issuer "X" with an RSA signature of modBits/8 bytes, and n intermediates
// all named "X" with distinct modBits-bit RSA moduli. Verifying the leaf
// tries each one: n full RSA verifications (crypto/x509 stops at 100), all
// failing. No private key of modBits is needed: the moduli are random.
func attackerChain(t testing.TB, n, modBits int) []*x509.Certificate {
	t.Helper()
	signer, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	issuer := pkix.Name{CommonName: "X"}
	now := time.Now()
	chain := []*x509.Certificate{}
	// The leaf: signed (validly, but irrelevantly) by signer, then its
	// signature algorithm and value replaced by a modBits RSA one.
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attacker"}, Issuer: issuer,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		SignatureAlgorithm: x509.SHA256WithRSA,
	}
	parentTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: issuer, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	rsaSigner, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, parentTmpl, leafKey.Public(), rsaSigner)
	if err != nil {
		t.Fatal(err)
	}
	leafDER = resign(t, leafDER, modBits)
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		t.Fatal(err)
	}
	chain = append(chain, leaf)
	for i := 0; i < n; i++ {
		nMod, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(modBits)))
		nMod.SetBit(nMod, modBits-1, 1)
		nMod.SetBit(nMod, 0, 1)
		pub := &rsa.PublicKey{N: nMod, E: 65537}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(10 + i)), Subject: issuer, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parentTmpl, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, c)
	}
	return chain
}

// resign swaps a certificate's signature for a SHA256WithRSA one of
// modBits/8 random bytes.
func resign(t testing.TB, der []byte, modBits int) []byte {
	t.Helper()
	var c struct {
		TBS    asn1.RawValue
		Alg    pkix.AlgorithmIdentifier
		BitStr asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &c); err != nil {
		t.Fatal(err)
	}
	c.Alg = pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}, Parameters: asn1.NullRawValue}
	sig := make([]byte, modBits/8)
	_, _ = rand.Read(sig)
	sig[0] = 1
	c.BitStr = asn1.BitString{Bytes: sig, BitLength: len(sig) * 8}
	out, err := asn1.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMadeUpChainsStayCheapPerRequest: an unauthenticated client that
// keeps more connections open than refusals are remembered for (each with
// its own made-up certificate) makes each request look at its chain again.
// A chain built to make crypto/x509 try many large keys (100 RSA-8192
// candidates cost ~165 ms) is refused before any signature check; within
// the bounds (maxChainLength, maxRSABits) a chain costs at most a few
// RSA-4096 verifications, about what the TLS handshake itself costs. And
// refusals are kept apart: a flood of them never pushes a caller's user
// out.
func TestMadeUpChainsStayCheapPerRequest(t *testing.T) {
	ca, err := devcerts.NewCA("test-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	opts := x509.VerifyOptions{Roots: roots}
	users := newCertUsers(maxCertUsers)
	verified := 0
	verifyChain = func(chain []*x509.Certificate, opts x509.VerifyOptions) ([][]*x509.Certificate, error) {
		verified++
		return verify(chain, opts)
	}
	t.Cleanup(func() { verifyChain = verify })

	member := []*x509.Certificate{certFor(t, ca, "member-a", nil, "")}
	want, ok, err := users.user(member, opts, time.Now())
	if !ok || err != nil {
		t.Fatalf("got ok=%v err=%v for a member's certificate, want its user", ok, err)
	}
	for _, tc := range []struct {
		name         string
		chain        []*x509.Certificate
		wantVerified int
	}{
		{name: "100 RSA-8192 intermediates", chain: attackerChain(t, 100, 8192)},
		{name: "one intermediate too many", chain: attackerChain(t, maxChainLength, 2048)},
		{name: "one RSA-8192 intermediate", chain: attackerChain(t, 1, 8192)},
		{name: "within the bounds", chain: attackerChain(t, maxChainLength-1, maxRSABits), wantVerified: 1},
	} {
		verified = 0
		if _, ok, _ := users.user(tc.chain, opts, time.Now()); ok {
			t.Fatalf("%s: admitted", tc.name)
		}
		if verified != tc.wantVerified {
			t.Errorf("%s: got %d chain verifications, want %d", tc.name, verified, tc.wantVerified)
		}
	}
	// A flood of refusals, one per made-up connection.
	other, _ := devcerts.NewCA("self", time.Hour)
	for range 4 * maxCertUsers {
		c, err := x509.ParseCertificate(other.Cert.Raw)
		if err != nil {
			t.Fatal(err)
		}
		_, _, _ = users.user([]*x509.Certificate{c}, opts, time.Now())
	}
	verified = 0
	if got, _, _ := users.user(member, opts, time.Now()); got != want || verified != 0 {
		t.Errorf("after %d refusals: got the member's user verified again (%d verifications, same answer %v), want it remembered", 4*maxCertUsers, verified, got == want)
	}
}
