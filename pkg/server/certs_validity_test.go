package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
)

// issueValid signs a serving pair valid from notBefore to notAfter.
func issueValid(t *testing.T, ca *devcerts.CA, notBefore, notAfter time.Time) pair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "tokenfed"}, DNSNames: []string{"localhost"},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	must(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	must(t, err)
	return pair{
		cert:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		serial: serial,
	}
}

// A renewal that writes a certificate outside its validity (an expired
// one restored from a backup, a clock gone wrong) does not replace a pair
// that is valid: every TLS client would refuse tokenfed. One that is not
// valid yet (the issuer's clock a little ahead) is served once it is.
func TestServingCertRenewalKeepsAValidPairOverAnInvalidOne(t *testing.T) {
	ca, err := devcerts.NewCA("test-ca", 2*time.Hour)
	must(t, err)
	dir := t.TempDir()
	c, first := loadedCert(t, ca, dir, renameWrite)
	c.interval = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.watch(ctx)

	now := time.Now()
	expired := issueValid(t, ca, now.Add(-2*time.Hour), now.Add(-time.Minute))
	renameWrite(t, dir, 1, expired.cert, expired.key)
	time.Sleep(500 * time.Millisecond) // several polls and watch events
	if got := servedSerial(t, c); got.Cmp(first.serial) != 0 {
		t.Fatalf("after an expired renewal: serving serial %s, want the valid first one %s", got, first.serial)
	}

	early := issueValid(t, ca, time.Now().Add(2*time.Second), now.Add(time.Hour)) // whole seconds in the certificate
	renameWrite(t, dir, 2, early.cert, early.key)
	time.Sleep(300 * time.Millisecond)
	if got := servedSerial(t, c); got.Cmp(first.serial) != 0 {
		t.Fatalf("before a renewal is valid: serving serial %s, want the first %s", got, first.serial)
	}
	waitForSerial(t, c, early.serial)
}
