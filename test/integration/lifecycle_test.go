package integration

import (
	"fmt"
	"math/big"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// TestServingCertificateRotation replaces the serving certificate on disk
// while a client keeps sending on new connections: new connections see the
// new certificate and no request fails.
func TestServingCertificateRotation(t *testing.T) {
	p := startTokenfed(t, nil)
	client := newConnPerRequestClient(t, p)
	before := servingSerial(t, client, p.URL)

	stop := make(chan struct{})
	var failures, sent atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			sent.Add(1)
			if code, err := review(client, p.URL); err != nil || code != 200 {
				failures.Add(1)
				t.Errorf("request during rotation: code %d err %v", code, err)
			}
		}
	}()
	rotateServingCert(t, p)
	after := waitForNewSerial(t, client, p.URL, before)
	time.Sleep(200 * time.Millisecond) // keep traffic flowing on the new certificate too
	close(stop)
	wg.Wait()
	if failures.Load() != 0 || sent.Load() < 10 {
		t.Fatalf("got %d failures in %d requests, want 0 failures in at least 10", failures.Load(), sent.Load())
	}
	t.Logf("serial %s -> %s after %d requests without a failure", before, after, sent.Load())
}

// rotateServingCert issues a new serving pair from the same CA and swaps
// both files in by rename, as cert-manager's atomic writer does.
func rotateServingCert(t *testing.T, p *tokenfedproc.Process) {
	t.Helper()
	ca := loadCA(t, p.Certs)
	cert, key, err := ca.Issue("tokenfed-rotated", nil, []string{"localhost", "127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	writeByRename(t, p.Certs.ServingKey, key)
	writeByRename(t, p.Certs.ServingCert, cert)
}

func writeByRename(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path+".new", data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

func loadCA(t *testing.T, f devcerts.Files) *devcerts.CA {
	t.Helper()
	ca, err := devcerts.LoadCA(f)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// newConnPerRequestClient opens a new TLS connection for every request, so
// each one sees the certificate being served at that moment.
func newConnPerRequestClient(t *testing.T, p *tokenfedproc.Process) *http.Client {
	t.Helper()
	c := p.Client()
	tokenfedproc.HTTPTransport(c).DisableKeepAlives = true
	return c
}

func servingSerial(t *testing.T, c *http.Client, url string) *big.Int {
	t.Helper()
	resp, err := c.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.TLS.PeerCertificates[0].SerialNumber
}

func waitForNewSerial(t *testing.T, c *http.Client, url string, old *big.Int) *big.Int {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if s := servingSerial(t, c, url); s.Cmp(old) != 0 {
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("serving certificate still has serial %s after 15s, want the rotated one", old)
	return nil
}

func review(c *http.Client, url string) (int, error) {
	resp, err := c.Post(url+"/authenticate", "application/json", strings.NewReader(validV1))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return resp.StatusCode, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}
