package kubeconfig

import (
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/util/webhook"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// TestKubeAPIServerLoadsIt loads each kind of kubeconfig with the loader
// kube-apiserver uses for --authentication-token-webhook-config-file, from
// a directory other than the one the paths were given in, and sends one
// request through it to a TLS server that plays tokenfed: the path, the
// server's CA and the caller credential must all arrive.
func TestKubeAPIServerLoadsIt(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		// want is what the fake tokenfed saw: the path and the caller.
		want string
	}{{
		name: "by path, given relative",
		opts: Options{CertificateAuthority: "ca.crt", ClientCertificate: "client.crt", ClientKey: "client.key"},
		want: "/authenticate cn=kube-apiserver",
	}, {
		name: "embedded",
		opts: Options{CertificateAuthority: "ca.crt", ClientCertificate: "client.crt", ClientKey: "client.key", EmbedCerts: true},
		want: "/authenticate cn=kube-apiserver",
	}, {
		name: "caller token file, given relative",
		opts: Options{CertificateAuthority: "ca.crt", CallerTokenFile: "caller.token"},
		want: "/authenticate token",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := testDir(t)
			srv := fakeTokenfed(t, dir)
			tt.opts.Server = srv.URL
			data, err := Generate(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			// Elsewhere, as kube-apiserver would: relative paths would now
			// resolve against this directory and miss.
			kubeconfig := filepath.Join(t.TempDir(), "webhook.kubeconfig")
			if err := WriteFile(kubeconfig, data); err != nil {
				t.Fatal(err)
			}
			t.Chdir(t.TempDir())
			cfg, err := webhook.LoadKubeconfig(kubeconfig, nil)
			if err != nil {
				t.Fatalf("load as kube-apiserver does: %v\n%s", err, data)
			}
			if got := post(t, cfg); got != tt.want {
				t.Errorf("fake tokenfed saw %q, want %q", got, tt.want)
			}
		})
	}
}

// fakeTokenfed serves TLS with the serving certificate in dir, asks for a
// client certificate of dir's CA, and answers with the path and the caller
// it saw: the certificate's CN, or "token" for the caller token.
func fakeTokenfed(t *testing.T, dir string) *httptest.Server {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(mustRead(t, filepath.Join(dir, "ca.crt")))) {
		t.Fatal("no CA certificate")
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller := "none"
		switch bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); {
		case len(r.TLS.PeerCertificates) > 0:
			caller = "cn=" + r.TLS.PeerCertificates[0].Subject.CommonName
		case subtle.ConstantTimeCompare([]byte(bearer), []byte(callerToken)) == 1:
			caller = "token"
		}
		fmt.Fprintf(w, "%s %s", r.URL.Path, caller)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// post sends a request with cfg's credentials to cfg's URL, path included,
// as kube-apiserver's webhook client does, and returns the answer.
func post(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Post(cfg.Host, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("POST %s: %v", cfg.Host, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// TestRelativePathsWouldMiss shows why Build makes paths absolute: the
// same kubeconfig with the paths as given fails to load elsewhere.
func TestRelativePathsWouldMiss(t *testing.T) {
	testDir(t)
	cfg, err := Build(Options{Server: "https://tokenfed.example", CertificateAuthority: "ca.crt"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Clusters[DefaultName].CertificateAuthority = "ca.crt"
	kubeconfig := filepath.Join(t.TempDir(), "webhook.kubeconfig")
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(kubeconfig, data); err != nil {
		t.Fatal(err)
	}
	// kube-apiserver fails to start with this error; the CA is in the
	// working directory, not next to the kubeconfig.
	want := filepath.Join(filepath.Dir(kubeconfig), "ca.crt")
	restCfg, err := webhook.LoadKubeconfig(kubeconfig, nil)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got config %+v, error %v; want an error naming %s: clientcmd resolves relative paths against the kubeconfig's directory", restCfg, err, want)
	}
}
