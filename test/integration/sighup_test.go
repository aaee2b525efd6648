package integration

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
	"github.com/tokenfed/tokenfed/pkg/testing/klogtest"
	"github.com/tokenfed/tokenfed/pkg/testing/staticissuer"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// SIGHUP's default action ends a process; serve without --config has no
// file to reload, and must log the signal and keep serving.
func TestSIGHUPWithoutConfigKeepsServing(t *testing.T) {
	bin, err := tokenfedproc.Binary()
	if err != nil {
		t.Fatal(err)
	}
	certs, err := devcerts.Write(filepath.Join(t.TempDir(), "certs"))
	if err != nil {
		t.Fatal(err)
	}
	port, err := tokenfedproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	var out klogtest.Buffer
	cmd := exec.Command(bin, "serve", "--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(port),
		"--tls-cert-file", certs.ServingCert, "--tls-private-key-file", certs.ServingKey, "--client-ca-file", certs.CACert)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-done
	})
	waitForOutput(t, &out, done, `"serving"`)

	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitForOutput(t, &out, done, "SIGHUP ignored: serve runs without --config")
	select {
	case err := <-done:
		t.Fatalf("tokenfed exited on SIGHUP: %v\n%s", err, out.String())
	case <-time.After(500 * time.Millisecond):
	}
}

// With --config, SIGHUP applies a changed file at once, without waiting for
// the next poll to see it settle.
func TestSIGHUPAppliesTheFileAtOnce(t *testing.T) {
	good, err := staticissuer.New("good")
	if err != nil {
		t.Fatal(err)
	}
	p := startTokenfed(t, nil)
	if err := p.EditConfig(func(cfg *v1alpha1.Configuration) { cfg.Issuers = []v1alpha1.Issuer{good.Config()} }); err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second) // the poll alone needs two reads, 2 s apart
	for !strings.Contains(p.LogTail(50), `"configuration applied"`) {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not apply the new file within 1 s:\n%s", p.LogTail(20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitForOutput(t *testing.T, out *klogtest.Buffer, done <-chan error, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(out.String(), want) {
		select {
		case err := <-done:
			t.Fatalf("tokenfed exited (%v) before logging %q:\n%s", err, want, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("tokenfed did not log %q:\n%s", want, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
