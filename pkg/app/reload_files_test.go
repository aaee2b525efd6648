package app

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
)

// The kubelet updates a ConfigMap volume and a Secret volume
// independently: a configuration that names a new file of a Secret
// (an issuer's fetch.caFile here) can arrive before the file does. The
// reload is refused while the file is missing, and applied once it is
// there, without another edit of the configuration.
func TestReloadAppliesOnceANamedFileAppears(t *testing.T) {
	a1 := newStaticIssuer(t, "alpha")
	cfg := anonymousConfig(a1.Config())
	a := newTestApp(t, configYAML(t, cfg))

	ca, err := devcerts.NewCA("hub-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "hub-ca.crt") // not there yet
	hub := v1alpha1.Issuer{Name: "hub", URL: "https://hub.test", JWKSURL: "https://127.0.0.1:1/jwks", Fetch: v1alpha1.Fetch{CAFile: caFile}}
	cfg.Issuers = append(cfg.Issuers, hub)
	a.writeConfigFile(t, configYAML(t, cfg))
	ctx := context.Background()
	a.reload.Poll(ctx)
	a.reload.Poll(ctx) // read twice: settled
	if err := a.reload.Check().Check(nil); err == nil {
		t.Fatal("a configuration naming a missing CA file was applied")
	}

	if err := os.WriteFile(caFile, ca.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	a.reload.Poll(ctx)
	if err := a.reload.Check().Check(nil); err != nil {
		t.Errorf("after the CA file appeared: %v", err)
	}
	if n := len(a.current.Load().cfg.Issuers); n != 2 {
		t.Errorf("%d issuers in force, want 2", n)
	}
}
