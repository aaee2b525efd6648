package app

import (
	"net/http"
	"testing"
	"time"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
	"github.com/tokenfed/tokenfed/pkg/testing/staticissuer"
)

// The client CA is loaded once, at start. A reload whose configuration no
// longer names it (the operator dropping certificate callers, say because
// the CA leaked, for caller tokens or anonymous callers) must stop
// authenticating callers by certificates of that CA at once: the
// configuration in force no longer trusts it, and the certificate's
// identity would otherwise keep its grants until a restart.
func TestReloadThatDropsClientCAStopsTrustingItsCertificates(t *testing.T) {
	ca, err := devcerts.NewCA("callers-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	opsCert, _, err := ca.Issue("ops", nil, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	is, err := staticissuer.New("local")
	if err != nil {
		t.Fatal(err)
	}
	cfg := v1alpha1.Configuration{
		Server:  v1alpha1.Server{ClientCAFile: writeTestFile(t, "ca.crt", ca.CertPEM())},
		Issuers: []v1alpha1.Issuer{is.Config()},
		Callers: v1alpha1.Callers{Authorization: v1alpha1.CallerAuthorization{Static: []v1alpha1.CallerPolicy{
			{Name: "ops", Users: []string{"ops"}, Endpoints: []string{"/metrics"}},
			{Name: "anonymous", Groups: []string{"system:unauthenticated"}, Issuers: []string{"local"}},
		}}},
	}
	a := newTestApp(t, configYAML(t, cfg))
	if w := a.get(t, "/metrics", opsCert); w.Code != http.StatusOK {
		t.Fatalf("before the reload: /metrics with the ops certificate: %d %s", w.Code, w.Body)
	}

	cfg.Server.ClientCAFile = ""
	cfg.Callers.AllowAnonymous = true
	a.reloadYAML(t, configYAML(t, cfg))
	if w := a.get(t, "/metrics", opsCert); w.Code == http.StatusOK {
		t.Errorf("after a reload without clientCAFile, a certificate of the dropped CA still reads /metrics as ops")
	}
}

// A reload that names another client CA file trusts that CA's certificates
// from the switch, and no longer the old one's.
func TestReloadThatReplacesClientCASwitchesTrust(t *testing.T) {
	oldCA, err := devcerts.NewCA("old-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	newCA, err := devcerts.NewCA("new-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	oldCert, _, err := oldCA.Issue("ops", nil, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	newCert, _, err := newCA.Issue("ops", nil, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cfg := v1alpha1.Configuration{
		Server: v1alpha1.Server{ClientCAFile: writeTestFile(t, "old.crt", oldCA.CertPEM())},
		Callers: v1alpha1.Callers{Authorization: v1alpha1.CallerAuthorization{Static: []v1alpha1.CallerPolicy{
			{Name: "ops", Users: []string{"ops"}, Endpoints: []string{"/metrics"}},
		}}},
	}
	a := newTestApp(t, configYAML(t, cfg))
	if w := a.get(t, "/metrics", newCert); w.Code == http.StatusOK {
		t.Fatalf("before the reload, a certificate of a CA not configured reads /metrics")
	}
	cfg.Server.ClientCAFile = writeTestFile(t, "new.crt", newCA.CertPEM())
	a.reloadYAML(t, configYAML(t, cfg))
	if w := a.get(t, "/metrics", newCert); w.Code != http.StatusOK {
		t.Errorf("after the reload, the new CA's certificate: %d %s", w.Code, w.Body)
	}
	if w := a.get(t, "/metrics", oldCert); w.Code == http.StatusOK {
		t.Errorf("after the reload, a certificate of the replaced CA still reads /metrics")
	}
}
