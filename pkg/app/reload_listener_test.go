package app

import (
	"strings"
	"testing"

	"github.com/tokenfed/tokenfed/pkg/testing/klogtest"
)

// The listener is set up once: a reload says so when the file's listener
// settings differ from the ones serving, and stops saying so once the file
// is back to them, whatever the previous file said.
func TestReloadReportsListenerSettingsAgainstTheServingOnes(t *testing.T) {
	log := klogtest.AtV10(t)
	const note = "listener settings differ from the ones serving"
	cfg := anonymousConfig(newStaticIssuer(t, "alpha").Config())
	a := newTestApp(t, configYAML(t, cfg))
	port := cfg.Server.SecurePort

	cfg.Server.SecurePort = port + 1
	a.reloadYAML(t, configYAML(t, cfg))
	if got := strings.Count(log.String(), note); got != 1 {
		t.Fatalf("after changing securePort: got %d notes, want 1:\n%s", got, log.String())
	}
	cfg.Server.SecurePort = port
	a.reloadYAML(t, configYAML(t, cfg))
	if got := strings.Count(log.String(), note); got != 1 {
		t.Errorf("after putting securePort back: got %d notes, want still 1:\n%s", got, log.String())
	}
}
