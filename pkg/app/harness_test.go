package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sigs.k8s.io/yaml"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
)

// loadYAML decodes, defaults and validates a configuration as tokenfed
// serve does at start and at every reload.
func loadYAML(data []byte) (*v1alpha1.Configuration, error) {
	cfg, err := v1alpha1.Decode(data)
	if err != nil {
		return nil, err
	}
	if errs := v1alpha1.Validate(cfg); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	return cfg, nil
}

// newTestApp builds an App from yaml, with hot reload set up and its
// chain running, without a listener: requests go to serveHTTP.
func newTestApp(t *testing.T, yaml string) *App {
	t.Helper()
	cfg, err := loadYAML([]byte(yaml))
	if err != nil {
		t.Fatalf("test config: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := New(ctx, cfg, Options{Reload: &ReloadOptions{Path: path, Initial: []byte(yaml), Load: loadYAML}})
	if err != nil {
		t.Fatal(err)
	}
	a.applyMu.Lock()
	a.runCtx = ctx
	a.current.Load().chain.Run(ctx)
	a.applyMu.Unlock()
	return a
}

// reload applies yaml as the watcher would.
func (a *App) reloadYAML(t *testing.T, yaml string) {
	t.Helper()
	cfg, err := loadYAML([]byte(yaml))
	if err != nil {
		t.Fatalf("reloaded config: %v", err)
	}
	if err := a.apply(context.Background(), cfg); err != nil {
		t.Fatalf("reload: %v", err)
	}
}

// get serves a GET of path, presenting certPEM as the client certificate
// when it is set.
func (a *App) get(t *testing.T, path string, certPEM []byte) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "https://tokenfed.test"+path, nil)
	r.TLS = clientTLS(t, certPEM)
	w := httptest.NewRecorder()
	a.serveHTTP(w, r)
	return w
}

// review asks about token, presenting certPEM as the client certificate
// when it is set, and returns the HTTP status and the answer.
func (a *App) review(t *testing.T, token string, certPEM []byte) (int, authenticationv1.TokenReviewStatus) {
	t.Helper()
	body, _ := json.Marshal(authenticationv1.TokenReview{
		TypeMeta: metav1TypeMeta(),
		Spec:     authenticationv1.TokenReviewSpec{Token: token},
	})
	r := httptest.NewRequest(http.MethodPost, "https://tokenfed.test/apis/authentication.k8s.io/v1/tokenreviews", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.TLS = clientTLS(t, certPEM)
	w := httptest.NewRecorder()
	a.serveHTTP(w, r)
	var out authenticationv1.TokenReview
	if w.Code == http.StatusOK {
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("answer %q: %v", w.Body.String(), err)
		}
	}
	return w.Code, out.Status
}

func clientTLS(t *testing.T, certPEM []byte) *tls.ConnectionState {
	t.Helper()
	st := &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13}
	if certPEM == nil {
		return st
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	st.PeerCertificates = []*x509.Certificate{cert}
	return st
}

func writeTestFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func metav1TypeMeta() metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "TokenReview"}
}

// configYAML is cfg as a configuration file holds it.
func configYAML(t *testing.T, cfg v1alpha1.Configuration) string {
	t.Helper()
	cfg.APIVersion, cfg.Kind = v1alpha1.GroupName+"/"+v1alpha1.Version, v1alpha1.Kind
	if cfg.Server.TLSCertFile == "" {
		cfg.Server.TLSCertFile, cfg.Server.TLSPrivateKeyFile = "/nonexistent/tls.crt", "/nonexistent/tls.key"
	}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// writeConfigFile replaces the watched configuration file with yaml.
func (a *App) writeConfigFile(t *testing.T, yaml string) {
	t.Helper()
	if err := os.WriteFile(a.opts.Reload.Path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
}
