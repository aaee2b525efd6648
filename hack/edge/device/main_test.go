package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/tokenfed/tokenfed/hack/edge/edgeapi"
	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
)

const (
	audience    = "https://edge.example"
	deviceToken = "device.ZGV2aWNlLTE.c2ln"
	otherToken  = "other.b3RoZXI.c2ln"
	outageToken = "outage.b3V0YWdl.c2ln"
	deviceUser  = "hub:system:serviceaccount:devices:device-1"
)

// fakeTokenfed accepts deviceToken for audience, fails on outageToken, and
// rejects the rest.
var fakeTokenfed = authenticator.TokenFunc(func(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	asked, _ := authenticator.AudiencesFrom(ctx)
	switch {
	case token == outageToken:
		return nil, false, errors.New("tokenfed is unavailable")
	case token == deviceToken && asked.Has(audience):
		u := &user.DefaultInfo{Name: deviceUser, Extra: map[string][]string{"tokenfed.io/issuer": {"hub"}}}
		return &authenticator.Response{User: u, Audiences: authenticator.Audiences{audience}}, true, nil
	}
	return nil, false, nil
})

// edge is a running edge API over TLS, and the device's flags for it.
type edge struct {
	args      []string
	tokenFile string
}

func startEdge(t *testing.T) *edge {
	t.Helper()
	dir := t.TempDir()
	certs, err := devcerts.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certs.ServingCert, certs.ServingKey)
	if err != nil {
		t.Fatal(err)
	}
	api, err := edgeapi.New(edgeapi.Options{Authenticator: fakeTokenfed, Audiences: []string{audience}})
	if err != nil {
		t.Fatal(err)
	}
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	httpLn, grpcLn := listen(t), listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- api.Serve(ctx, httpLn, grpcLn, tlsConfig) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("edge API: %v", err)
		}
	})
	e := &edge{tokenFile: filepath.Join(dir, "device.token")}
	e.args = []string{"--token-file", e.tokenFile, "--ca-file", certs.CACert,
		"--http", "https://" + httpLn.Addr().String() + edgeapi.WhoAmIPath, "--grpc", grpcLn.Addr().String()}
	return e
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func (e *edge) setToken(t *testing.T, token string) {
	t.Helper()
	if err := os.WriteFile(e.tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestDevice(t *testing.T) {
	e := startEdge(t)
	for _, tc := range []struct {
		name, token string
		wantCode    int
		want        []string
	}{
		{"accepted over both", deviceToken, exitAccepted, []string{
			"HTTP  200 OK: user=" + deviceUser + " groups= issuer=hub audiences=" + audience,
			"gRPC  OK: user=" + deviceUser + " groups= issuer=hub audiences=" + audience,
		}},
		{"another audience is refused", otherToken, exitRefused, []string{
			`HTTP  401 Unauthorized: WWW-Authenticate: Bearer realm="edge", error="invalid_token"`,
			"gRPC  Unauthenticated: the token is invalid",
		}},
		{"tokenfed unavailable", outageToken, exitFailed, []string{
			"HTTP  503 Service Unavailable",
			"gRPC  Unavailable: authentication is temporarily unavailable",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.setToken(t, tc.token)
			var out, errOut bytes.Buffer
			code := run(e.args, &out, &errOut)
			if code != tc.wantCode {
				t.Errorf("got exit %d, want %d; stderr %q", code, tc.wantCode, errOut.String())
			}
			for _, want := range tc.want {
				if !strings.Contains(out.String(), want) {
					t.Errorf("got output %q, want a line with %q", out.String(), want)
				}
			}
			if strings.Contains(out.String()+errOut.String(), tc.token) {
				t.Errorf("the output quotes the token")
			}
		})
	}
}

// TestDeviceRereadsTheTokenFile: one device, two rounds, the file replaced
// by rename in between.
func TestDeviceRereadsTheTokenFile(t *testing.T) {
	e := startEdge(t)
	e.setToken(t, deviceToken)
	o, err := parseFlags(e.args, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := newDevice(o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	var out bytes.Buffer
	if code := d.round(t.Context(), &out); code != exitAccepted {
		t.Fatalf("first round: got exit %d, want %d\n%s", code, exitAccepted, out.String())
	}
	next := e.tokenFile + ".next"
	if err := os.WriteFile(next, []byte(otherToken), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, e.tokenFile); err != nil {
		t.Fatal(err)
	}
	if code := d.round(t.Context(), &out); code != exitRefused {
		t.Fatalf("after the swap: got exit %d, want %d\n%s", code, exitRefused, out.String())
	}
}

func TestDeviceUntilRefused(t *testing.T) {
	e := startEdge(t)
	e.setToken(t, otherToken)
	var out bytes.Buffer
	code := run(append(e.args, "--count", "5", "--interval", "1ms", "--until-refused"), &out, &bytes.Buffer{})
	if code != exitRefused || strings.Count(out.String(), "\n") != 2 {
		t.Fatalf("got exit %d after %q, want %d after one round", code, out.String(), exitRefused)
	}
}

func TestDeviceFlags(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--token-file", "t"},
		{"--token-file", "t", "--http", "https://x", "--count", "0"},
		{"--token-file", "t", "--http", "https://x", "extra"},
	} {
		var errOut bytes.Buffer
		if code := run(args, &bytes.Buffer{}, &errOut); code != exitFailed || errOut.Len() == 0 {
			t.Errorf("run(%q): got exit %d, stderr %q; want %d and a reason", args, code, errOut.String(), exitFailed)
		}
	}
}

func TestDeviceRefusesPlainGRPC(t *testing.T) {
	if !(tokenFile("x").RequireTransportSecurity()) {
		t.Fatal("got per-RPC credentials that travel in the clear, want TLS required")
	}
}
