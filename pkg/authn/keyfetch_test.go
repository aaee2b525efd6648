package authn

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// credentialLog records the Authorization header of every request a
// server got.
type credentialLog struct {
	mu    sync.Mutex
	auths []string
}

func (l *credentialLog) record(r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.auths = append(l.auths, r.Header.Get("Authorization"))
}

func (l *credentialLog) got() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.auths...)
}

// The fetch credential (fetch.bearerTokenFile here; a client certificate
// alike) is the issuer's. A discovery document that names a jwks_uri on
// another origin must not make tokenfed send it there: the fetch fails,
// and readiness says why.
func TestDiscoveryCredentialsStayWithTheIssuer(t *testing.T) {
	const credential = "issuer-fetch-credential"
	for _, tc := range []struct {
		name        string
		credentials bool
		elsewhere   bool // jwks_uri on another origin (same host, other port)
		wantOK      bool
		wantReady   string // part of the readiness error when not ok
	}{
		{name: "credentials, jwks_uri on the discovery origin", credentials: true, wantOK: true},
		{name: "credentials, jwks_uri elsewhere", credentials: true, elsewhere: true, wantReady: "configure jwksURL instead"},
		{name: "no credentials, jwks_uri elsewhere", elsewhere: true, wantOK: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var issuerLog, elsewhereLog credentialLog
			jwks := trustedJWKS(t)
			other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				elsewhereLog.record(r)
				_, _ = w.Write([]byte(jwks))
			}))
			t.Cleanup(other.Close)
			var disc *httptest.Server
			disc = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				issuerLog.record(r)
				if r.URL.Path == "/keys" {
					_, _ = w.Write([]byte(jwks))
					return
				}
				uri := disc.URL + "/keys"
				if tc.elsewhere {
					uri = other.URL + "/keys"
				}
				_ = json.NewEncoder(w).Encode(map[string]string{"issuer": issuerURL, "jwks_uri": uri})
			}))
			t.Cleanup(disc.Close)
			cfg := hubConfig(t, nil, "")
			cfg.Issuers[0].StaticKeys = nil
			cfg.Issuers[0].DiscoveryURL = disc.URL + "/.well-known/openid-configuration"
			cfg.Issuers[0].Fetch.CAFile = writeFile(t, "ca.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: disc.Certificate().Raw}))
			if tc.credentials {
				cfg.Issuers[0].Fetch.BearerTokenFile = writeFile(t, "token", []byte(credential))
			}
			c := newChain(t, cfg)

			// No Run: the unloaded key set fetches on first use.
			_, ok, err := c.AuthenticateToken(context.Background(), plainToken.mint(t))

			if ok != tc.wantOK {
				t.Errorf("got ok=%v err=%v, want ok=%v", ok, err, tc.wantOK)
			}
			for _, auth := range elsewhereLog.got() {
				if strings.Contains(auth, credential) {
					t.Errorf("got the fetch credential sent to %s, want it sent to the issuer only", other.URL)
				}
			}
			if tc.credentials && !tc.elsewhere && !strings.Contains(strings.Join(issuerLog.got(), ","), credential) {
				t.Errorf("got no credential sent to the issuer, want it on every fetch")
			}
			ready := keysReady{c.issuers["hub"]}.Check(nil)
			if tc.wantReady != "" && (ready == nil || !strings.Contains(ready.Error(), tc.wantReady)) {
				t.Errorf("got readiness %v, want an error containing %q", ready, tc.wantReady)
			}
		})
	}
}
