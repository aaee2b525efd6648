package integration

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/staticissuer"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// closedURL is an https URL on a local port nothing listens on: the key
// fetch of an issuer with a mistyped URL fails at once.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "https://" + addr + "/openid/v1/jwks"
}

func readyz(t *testing.T, p *tokenfedproc.Process) (int, string) {
	t.Helper()
	code, body, err := p.ReadyzVerbose()
	if err != nil {
		t.Fatal(err)
	}
	return code, body
}

// readiness.issuers decides whether an issuer without keys keeps a new
// tokenfed out of its Service: with all, a mistyped issuer URL keeps it
// unready (a rollout stops there), and fixing the file by hot reload makes
// it ready; with any or none, the issuer that works is enough.
func TestReadinessGatesOnIssuers(t *testing.T) {
	good, err := staticissuer.New("good")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode      v1alpha1.IssuerReadiness
		wantReady bool
	}{
		{v1alpha1.IssuerReadinessAll, false},
		{v1alpha1.IssuerReadinessAny, true},
		{v1alpha1.IssuerReadinessNone, true},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			typo := v1alpha1.Issuer{Name: "typo", URL: "https://typo.issuer.test", JWKSURL: closedURL(t)}
			p := startTokenfed(t, func(o *tokenfedproc.Options) {
				o.Config.Issuers = []v1alpha1.Issuer{good.Config(), typo}
				o.Config.Readiness.Issuers = tc.mode
				o.WaitPath = "/livez"
			})
			time.Sleep(time.Second) // the typo issuer's first fetch has failed by now
			code, body := readyz(t, p)
			if (code == http.StatusOK) != tc.wantReady {
				t.Fatalf("got /readyz %d:\n%s\nwant ready=%v", code, body, tc.wantReady)
			}
			if !strings.Contains(body, "[-]issuer-typo not ready (does not gate readiness)") {
				t.Errorf("got /readyz?verbose\n%s\nwant the typo issuer reported", body)
			}
			if tc.wantReady {
				return
			}
			if want := "[-]issuer-keys failed: readiness.issuers is all; keys never loaded: typo"; !strings.Contains(body, want) {
				t.Errorf("got /readyz?verbose\n%s\nwant %q", body, want)
			}

			// The fix arrives by editing the file: no restart.
			if err := p.EditConfig(func(cfg *v1alpha1.Configuration) { cfg.Issuers = cfg.Issuers[:1] }); err != nil {
				t.Fatal(err)
			}
			if err := p.WaitReady(t.Context(), 15*time.Second); err != nil {
				_, body := readyz(t, p)
				t.Fatalf("after removing the typo issuer: %v\n%s", err, body)
			}
		})
	}
}

// An issuer added by a hot reload never gates, even with readiness.issuers
// all: the edit reaches every replica at once, and an unready fleet would
// be an outage of every issuer.
func TestReloadedIssuerNeverGates(t *testing.T) {
	good, err := staticissuer.New("good")
	if err != nil {
		t.Fatal(err)
	}
	p := startTokenfed(t, func(o *tokenfedproc.Options) {
		o.Config.Issuers = []v1alpha1.Issuer{good.Config()}
		o.Config.Readiness.Issuers = v1alpha1.IssuerReadinessAll
	})
	if err := p.EditConfig(func(cfg *v1alpha1.Configuration) {
		cfg.Issuers = append(cfg.Issuers, v1alpha1.Issuer{Name: "typo", URL: "https://typo.issuer.test", JWKSURL: closedURL(t)})
	}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, body := readyz(t, p)
		if strings.Contains(body, "issuer-typo") {
			if code != http.StatusOK {
				t.Fatalf("got /readyz %d after adding an issuer by reload:\n%s\nwant 200", code, body)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reload never showed in /readyz?verbose:\n%s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
