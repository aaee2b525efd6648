package authn

import (
	"context"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn/keyset"
)

// jwksServer serves the trusted JWKS over TLS and records the credentials
// each fetch carried.
type jwksServer struct {
	*httptest.Server
	mu    sync.Mutex
	auths []string
}

func newJWKSServer(t testing.TB) *jwksServer {
	t.Helper()
	doc := trustedJWKS(t)
	s := &jwksServer{}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.auths = append(s.auths, r.Header.Get("Authorization"))
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(doc))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) authorizations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auths...)
}

func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Key fetches use the issuer's CA bundle and bearer token file.
func TestFetchClientCarriesCAAndCredentials(t *testing.T) {
	jwks := newJWKSServer(t)
	caFile := writeFile(t, "ca.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: jwks.Certificate().Raw}))
	tokenFile := writeFile(t, "token", []byte("jwks-credential"))
	for _, tc := range []struct {
		name      string
		fetch     v1alpha1.Fetch
		wantErr   error
		wantAuths []string
	}{
		{
			name:      "CA bundle and bearer token file",
			fetch:     v1alpha1.Fetch{CAFile: caFile, BearerTokenFile: tokenFile},
			wantAuths: []string{"Bearer jwks-credential"},
		},
		{
			name:    "system roots do not trust the issuer",
			fetch:   v1alpha1.Fetch{BearerTokenFile: tokenFile},
			wantErr: keyset.ErrNotReady,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(jwks.authorizations())
			cfg := hubConfig(t, nil, "")
			cfg.Issuers[0].StaticKeys, cfg.Issuers[0].JWKSURL = nil, jwks.URL
			cfg.Issuers[0].Fetch = tc.fetch
			c := newChain(t, cfg)

			// No Run: the unloaded key set fetches on first use.
			_, ok, err := c.AuthenticateToken(context.Background(), plainToken.mint(t))

			if !errors.Is(err, tc.wantErr) || ok != (tc.wantErr == nil) {
				t.Fatalf("got ok=%v err=%v, want err %v", ok, err, tc.wantErr)
			}
			got := jwks.authorizations()[before:]
			if len(got) != len(tc.wantAuths) {
				t.Fatalf("got fetches with %q, want %q", got, tc.wantAuths)
			}
			for i := range got {
				if got[i] != tc.wantAuths[i] {
					t.Errorf("got fetch %d with Authorization %q, want %q", i, got[i], tc.wantAuths[i])
				}
			}
		})
	}
}

func TestFetchClientRejectsBadFiles(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	notPEM := writeFile(t, "ca.crt", []byte("not a certificate"))
	for _, tc := range []struct {
		name  string
		fetch v1alpha1.Fetch
	}{
		{name: "missing CA file", fetch: v1alpha1.Fetch{CAFile: missing}},
		{name: "CA file without certificates", fetch: v1alpha1.Fetch{CAFile: notPEM}},
		{name: "missing client certificate", fetch: v1alpha1.Fetch{ClientCertFile: missing, ClientKeyFile: missing}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := fetchClient(&tc.fetch); err == nil {
				t.Errorf("got no error, want one")
			}
		})
	}
}
