package client

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// TestInClusterConfig: unset variables take the documented defaults, set
// ones win, and set to "" they turn the setting off.
func TestInClusterConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want Config
	}{
		{"defaults", nil, Config{
			Server:    "https://tokenfed.tokenfed-system.svc/apis/authentication.k8s.io/v1/tokenreviews",
			CAFile:    "/var/run/secrets/tokenfed/ca.crt",
			TokenFile: "/var/run/secrets/tokenfed/token",
		}},
		{"set", map[string]string{
			EnvServer: "https://tokenfed.example:8443/authenticate", EnvCAFile: "/ca.crt", EnvTokenFile: "/token",
			EnvClientCertFile: "/tls.crt", EnvClientKeyFile: "/tls.key",
		}, Config{
			Server: "https://tokenfed.example:8443/authenticate", CAFile: "/ca.crt", TokenFile: "/token",
			ClientCertFile: "/tls.crt", ClientKeyFile: "/tls.key",
		}},
		{"off: system roots and a client certificate", map[string]string{
			EnvCAFile: "", EnvTokenFile: "", EnvClientCertFile: "/tls.crt", EnvClientKeyFile: "/tls.key",
		}, Config{Server: DefaultServer, ClientCertFile: "/tls.crt", ClientKeyFile: "/tls.key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, name := range []string{EnvServer, EnvCAFile, EnvTokenFile, EnvClientCertFile, EnvClientKeyFile} {
				t.Setenv(name, "")
				if v, ok := tc.env[name]; ok {
					t.Setenv(name, v)
				} else {
					os.Unsetenv(name)
				}
			}
			if got := InClusterConfig(); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestConfigRefused: configurations New refuses, with what it says.
func TestConfigRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"nothing", Config{}, "no tokenfed server"},
		{"plain http", Config{Server: "http://tokenfed.example"}, "only https is allowed"},
		{"kubeconfig and a server", Config{Kubeconfig: "webhook.kubeconfig", Server: "https://tokenfed.example"}, "exclude each other"},
		{"kubeconfig and a token file", Config{Kubeconfig: "webhook.kubeconfig", TokenFile: "token"}, "exclude each other"},
		{"missing kubeconfig", Config{Kubeconfig: filepath.Join(t.TempDir(), "missing")}, "no such file"},
		{"empty kubeconfig", Config{Kubeconfig: emptyFile(t)}, "no configuration has been provided"},
		{"a password in the URL", Config{Server: "https://app:secret@tokenfed.example"}, "a user or password in the URL is refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func emptyFile(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestKubeconfigTokenFile: a webhook kubeconfig's user may name a
// tokenFile (relative to the kubeconfig). It is sent, and re-read on the
// next request once replaced, not a minute later as client-go would.
func TestKubeconfigTokenFile(t *testing.T) {
	f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, _ *authenticationv1.TokenReview) {
		writeReview(w, http.StatusOK, authenticatedAs("u"))
	})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "token"), "caller-token-aaaa")
	kubeconfig := filepath.Join(dir, "webhook.kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["tokenfed"] = &clientcmdapi.Cluster{Server: f.URL + "/authenticate", CertificateAuthority: f.caFile}
	cfg.AuthInfos["app"] = &clientcmdapi.AuthInfo{TokenFile: "token"}
	cfg.Contexts["webhook"] = &clientcmdapi.Context{Cluster: "tokenfed", AuthInfo: "app"}
	cfg.CurrentContext = "webhook"
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, Config{Kubeconfig: kubeconfig})

	for _, want := range []string{"caller-token-aaaa", "caller-token-bbbb"} {
		writeFile(t, filepath.Join(dir, "token"), want)

		if _, err := c.Review(ctxTimeout(t, 30*time.Second), "opaque-token-kubeconfig"); err != nil {
			t.Fatal(err)
		}

		if got := f.lastBearer(); got != want {
			t.Fatalf("got bearer %q, want %q", got, want)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.paths[0] != "/authenticate" {
		t.Errorf("got path %s, want the kubeconfig's /authenticate", f.paths[0])
	}
}

// TestKubeconfigUserRefused: a webhook kubeconfig's user proves who the
// application is with a client certificate, a token or a tokenFile;
// anything else is refused by New, which names it.
func TestKubeconfigUserRefused(t *testing.T) {
	for _, tc := range []struct {
		user, want string
	}{
		{"    auth-provider: {name: oidc, config: {idp-issuer-url: https://idp.example, client-id: x}}", "the user's auth-provider refused"},
		{"    username: app\n    password: secret", "the user's username, password refused"},
		{"    token: caller-token\n    as: admin\n    as-groups: [system:masters]", "the user's as, as-groups refused"},
		{"    token: caller-token\n    as: admin\n    as-uid: \"1\"\n    as-user-extra: {k: [v]}", "the user's as, as-uid, as-user-extra refused"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			kc := writeKubeconfig(t, "https://tokenfed.example/authenticate", "", tc.user)

			_, err := New(Config{Kubeconfig: kc})

			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// TestKubeconfigAllowed: a client certificate, a token and a proxy-url
// (TLS runs end to end through it) are what a webhook kubeconfig may say.
func TestKubeconfigAllowed(t *testing.T) {
	f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, _ *authenticationv1.TokenReview) {
		writeReview(w, http.StatusOK, authenticatedAs("u"))
	})
	kc := writeKubeconfig(t, f.URL+"/authenticate", "    certificate-authority: "+f.caFile+"\n    proxy-url: http://127.0.0.1:1", "    token: caller-token")

	if _, err := New(Config{Kubeconfig: kc}); err != nil {
		t.Fatal(err)
	}
}
