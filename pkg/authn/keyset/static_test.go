package keyset

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	testingclock "k8s.io/utils/clock/testing"
)

func pemBlock(t *testing.T, typ string, der []byte) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pkixPEM(t *testing.T, pub any) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pemBlock(t, "PUBLIC KEY", der)
}

func certPEM(t *testing.T, key *ecdsa.PrivateKey) []byte {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sa"}, NotAfter: epoch}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pemBlock(t, "CERTIFICATE", der)
}

// TestStaticPEM: PEM keys get kube-apiserver's derived kid, so tokens that
// cluster minted match by kid.
func TestStaticPEM(t *testing.T) {
	rk, ek, ck := testRSAKey(t), testECKey(t), testECKey(t)
	ecDER, _ := x509.MarshalECPrivateKey(ek)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	weak := &weakRSAKey(t).PublicKey
	weakKid, _ := KeyIDFromPublicKey(weak)
	tests := []struct {
		name    string
		data    []byte
		signer  any
		alg     jose.SignatureAlgorithm
		pub     any
		wantErr string
	}{
		{name: "PKIX RSA", data: pkixPEM(t, &rk.PublicKey), signer: rk, alg: jose.RS256, pub: &rk.PublicKey},
		{name: "PKCS1 RSA", data: pemBlock(t, "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rk.PublicKey)), signer: rk, alg: jose.RS256, pub: &rk.PublicKey},
		{name: "certificate", data: certPEM(t, ck), signer: ck, alg: jose.ES256, pub: &ck.PublicKey},
		{name: "bundle", data: append(pkixPEM(t, &rk.PublicKey), pkixPEM(t, &ek.PublicKey)...), signer: ek, alg: jose.ES256, pub: &ek.PublicKey},
		{name: "weak key beside a good one", data: append(pkixPEM(t, weak), pkixPEM(t, &ek.PublicKey)...), signer: ek, alg: jose.ES256, pub: &ek.PublicKey},
		{name: "weak key", data: pkixPEM(t, weak), wantErr: `no usable keys: 1 key dropped: kid "` + weakKid[:maxQuoted] + `"...: RSA key smaller than 2048 bits`},
		{name: "key no allowed alg fits", data: pkixPEM(t, &p384.PublicKey), wantErr: `: no allowed algorithm fits EC P-384 key`},
		{name: "private key refused", data: pemBlock(t, "EC PRIVATE KEY", ecDER), wantErr: "not accepted"},
		{name: "trailing junk", data: append(pkixPEM(t, &rk.PublicKey), "junk"...), wantErr: "trailing"},
		{name: "empty", data: []byte("\n"), wantErr: "no usable keys"},
		{name: "no blocks", data: []byte("junk"), wantErr: "trailing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := New(Options{IssuerName: "test", StaticJWKS: tc.data, Algorithms: []string{"RS256", "ES256"}})
			if !errContains(err, tc.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			kid, _ := KeyIDFromPublicKey(tc.pub)
			if _, err := ks.VerifySignature(context.Background(), sign(t, tc.signer, tc.alg, kid, payload, nil)); err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
		})
	}
}

func TestStaticFileReload(t *testing.T) {
	first, second := testECKey(t), testECKey(t)
	path := filepath.Join(t.TempDir(), "keys.json")
	write := func(data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(jwksDoc(t, publicJWK(first, "first", "")))
	fc := testingclock.NewFakeClock(epoch)
	ks, err := New(Options{IssuerName: "test", StaticFile: path, Algorithms: []string{"ES256"}, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	refreshed := runKeySet(t, ks)
	_ = next(t, refreshed)
	ctx := context.Background()

	// A new kid makes the key set re-read the file at once.
	write(jwksDoc(t, publicJWK(second, "second", "")))
	if _, err := ks.VerifySignature(ctx, sign(t, second, jose.ES256, "second", payload, nil)); err != nil {
		t.Fatalf("new kid: got error %v, want nil", err)
	}

	// The background poll drops a removed key, without any token asking.
	write(pkixPEM(t, &first.PublicKey))
	fc.Step(DefaultMinRefresh)
	if err := next(t, refreshed); err != nil {
		t.Fatalf("poll: got error %v, want nil", err)
	}
	if ks.HasKid("second") {
		t.Fatal("got HasKid(second) true after the file dropped it, want false")
	}

	// A broken file, or one without a usable key, keeps the last good keys
	// and says so.
	kid, _ := KeyIDFromPublicKey(&first.PublicKey)
	for i, bad := range []struct{ data, wantErr string }{
		{"{broken", "invalid JSON"},
		{`{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"h"}]}`, `no usable keys: 1 key dropped: kid "h": symmetric key (kty oct) refused`},
	} {
		write([]byte(bad.data))
		fc.Step(DefaultMinRefresh)
		if err := next(t, refreshed); !errContains(err, bad.wantErr) {
			t.Fatalf("bad file %d: got error %v, want one containing %q", i, err, bad.wantErr)
		}
		if st := ks.Status(); !st.Stale || !st.Loaded || !ks.HasKid(kid) || st.Age != time.Duration(i+1)*time.Minute {
			t.Fatalf("bad file %d: got %+v, want stale keys of age %dm", i, st, i+1)
		}
	}
}

func TestNewStaticFileMissing(t *testing.T) {
	_, err := New(Options{IssuerName: "test", StaticFile: filepath.Join(t.TempDir(), "nope")})
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("got error %v, want a missing-file error", err)
	}
}

func TestStaticKeysDoNotAge(t *testing.T) {
	fc := testingclock.NewFakeClock(epoch)
	ks, err := New(Options{IssuerName: "test", StaticJWKS: jwksDoc(t, publicJWK(testECKey(t), "ec1", "")), Algorithms: []string{"ES256"}, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	fc.Step(365 * 24 * time.Hour)
	if st := ks.Status(); !st.Loaded || st.Age != 0 || st.Stale {
		t.Fatalf("got %+v, want loaded, age 0, not stale", st)
	}
	if _, err := ks.Key(context.Background(), "ec1", "ES256"); err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	if _, err := ks.Key(context.Background(), "other", "ES256"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("got error %v, want %v", err, ErrUnknownKey)
	}
}
