package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
)

// pairWriter puts a certificate and key where the server reads them, the
// way one of the writers in production does.
type pairWriter func(t *testing.T, dir string, generation int, cert, key []byte)

// kubeletWrite is the kubelet's atomic writer for Secret volumes (and so
// cert-manager renewals): the files are symlinks through ..data, which is
// swapped to a new timestamped directory; the old directory is removed.
func kubeletWrite(t *testing.T, dir string, generation int, cert, key []byte) {
	t.Helper()
	ts := filepath.Join(dir, ".."+strings.Repeat("g", generation+1))
	must(t, os.Mkdir(ts, 0o755))
	must(t, os.WriteFile(filepath.Join(ts, "tls.crt"), cert, 0o600))
	must(t, os.WriteFile(filepath.Join(ts, "tls.key"), key, 0o600))
	must(t, os.Symlink(filepath.Base(ts), filepath.Join(dir, "..data_tmp")))
	must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	if generation == 0 {
		must(t, os.Symlink("..data/tls.crt", filepath.Join(dir, "tls.crt")))
		must(t, os.Symlink("..data/tls.key", filepath.Join(dir, "tls.key")))
		return
	}
	must(t, os.RemoveAll(filepath.Join(dir, ".."+strings.Repeat("g", generation))))
}

// renameWrite replaces each file by rename, key first, as the integration
// test and most atomic file writers do.
func renameWrite(t *testing.T, dir string, _ int, cert, key []byte) {
	t.Helper()
	for name, data := range map[string][]byte{"tls.key": key, "tls.crt": cert} {
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p+".new", data, 0o600))
		must(t, os.Rename(p+".new", p))
	}
}

// TestServingCertReload renews the certificate with each writer, and with
// each reload mechanism alone: the new pair is served without a restart.
func TestServingCertReload(t *testing.T) {
	ca, err := devcerts.NewCA("test-ca", time.Hour)
	must(t, err)
	writers := map[string]pairWriter{"kubelet symlink swap": kubeletWrite, "rename": renameWrite}
	for wname, write := range writers {
		for _, mode := range []string{"watch", "poll"} {
			t.Run(wname+"/"+mode, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				c, first := loadedCert(t, ca, dir, write)
				ctx, cancel := context.WithCancel(context.Background())
				t.Cleanup(cancel)
				if mode == "watch" {
					c.interval = 0 // watch only
					c.watch(ctx)
				} else {
					c.interval = 100 * time.Millisecond
					go c.poll(ctx) // no inotify watch
				}
				second := issue(t, ca)
				write(t, dir, 1, second.cert, second.key)
				waitForSerial(t, c, second.serial)
				if first.serial.Cmp(second.serial) == 0 {
					t.Fatal("test issued the same serial twice")
				}
			})
		}
	}
}

// TestServingCertBrokenRenewal writes a key that does not match: the last
// good pair stays in service and ready, and a fixed renewal still loads.
func TestServingCertBrokenRenewal(t *testing.T) {
	ca, err := devcerts.NewCA("test-ca", time.Hour)
	must(t, err)
	dir := t.TempDir()
	c, first := loadedCert(t, ca, dir, renameWrite)
	c.interval = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.watch(ctx)

	other := issue(t, ca)
	renameWrite(t, dir, 1, other.cert, first.key)
	time.Sleep(500 * time.Millisecond) // several polls and watch events
	if got := servedSerial(t, c); got.Cmp(first.serial) != 0 || !c.loaded() {
		t.Fatalf("after a mismatched renewal: serial %s loaded %v, want the first %s and loaded", got, c.loaded(), first.serial)
	}
	renameWrite(t, dir, 2, other.cert, other.key)
	waitForSerial(t, c, other.serial)
}

// TestRunFailsOnMissingCertificate: a wrong path ends Run with an error
// that names it, within moments rather than as TLS alerts forever.
func TestRunFailsOnMissingCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := New(Options{BindAddress: "127.0.0.1", CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"), CertReloadInterval: time.Second}, http.NotFoundHandler(), nil)
	start := time.Now()
	err := s.Run(context.Background())
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "tls.crt")) || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("Run: got %v, want an error naming the missing certificate file", err)
	}
	if took > firstLoadTimeout+2*time.Second {
		t.Fatalf("Run took %s to fail, want about %s", took, firstLoadTimeout)
	}
	if s.CertificateLoaded() {
		t.Fatal("CertificateLoaded is true without a certificate")
	}
}

type pair struct {
	cert, key []byte
	serial    *big.Int
}

func issue(t *testing.T, ca *devcerts.CA) pair {
	t.Helper()
	cert, key, err := ca.Issue("tokenfed", nil, []string{"localhost"}, time.Hour)
	must(t, err)
	kp, err := tls.X509KeyPair(cert, key)
	must(t, err)
	return pair{cert: cert, key: key, serial: kp.Leaf.SerialNumber}
}

// loadedCert writes a first pair with write and loads it.
func loadedCert(t *testing.T, ca *devcerts.CA, dir string, write pairWriter) (*servingCert, pair) {
	t.Helper()
	first := issue(t, ca)
	write(t, dir, 0, first.cert, first.key)
	c := newServingCert(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), 0)
	must(t, c.load(context.Background()))
	if got := servedSerial(t, c); got.Cmp(first.serial) != 0 {
		t.Fatalf("first load serves serial %s, want %s", got, first.serial)
	}
	return c, first
}

func servedSerial(t *testing.T, c *servingCert) *big.Int {
	t.Helper()
	cert, err := c.GetCertificate(nil)
	must(t, err)
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	must(t, err)
	return leaf.SerialNumber
}

func waitForSerial(t *testing.T, c *servingCert, want *big.Int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if servedSerial(t, c).Cmp(want) == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("serving serial %s after 10s, want the renewed %s", servedSerial(t, c), want)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
