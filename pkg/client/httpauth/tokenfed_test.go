package httpauth_test

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/util/webhook"
	tokenwebhook "k8s.io/apiserver/plugin/pkg/authenticator/token/webhook"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/client/httpauth"
	"github.com/tokenfed/tokenfed/pkg/client/internal/authtest"
	"github.com/tokenfed/tokenfed/pkg/testing/jwstest"
	"github.com/tokenfed/tokenfed/pkg/testing/staticissuer"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

const (
	edgeIssuer = "https://edge.example"
	edgeKid    = "edge-1"
)

// TestWithTokenfed wires the middleware to a real tokenfed through the
// client kube-apiserver itself uses to call it (k8s.io/apiserver's webhook
// token authenticator), with a service-account issuer "edge" whose keys
// are static.
func TestWithTokenfed(t *testing.T) {
	key := jwstest.ECKey(0)
	p := startEdgeTokenfed(t, key)
	mw, err := httpauth.New(httpauth.Options{Authenticator: webhookAuthenticator(t, p), Audiences: []string{authtest.Audience}, Realm: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	var handled atomic.Int64
	srv := startServer(t, mw.Wrap(reportHandler(&handled)), true)

	t.Run("minted for this service", func(t *testing.T) {
		resp, body := get(t, srv, mintEdgeToken(t, key, authtest.Audience))
		if resp.StatusCode != 200 {
			t.Fatalf("got HTTP %d (%s), want 200", resp.StatusCode, body)
		}
		var got seen
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		want := seen{
			User:      "edge:system:serviceaccount:ns:orders",
			Groups:    []string{"edge:system:serviceaccounts", "edge:system:serviceaccounts:ns"},
			Audiences: []string{authtest.Audience},
		}
		if d := cmp.Diff(want, got, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Extra" }, cmp.Ignore())); d != "" {
			t.Errorf("the handler saw (-want +got):\n%s", d)
		}
		if iss := got.Extra["tokenfed.io/issuer"]; !cmp.Equal(iss, []string{"edge"}) {
			t.Errorf("got extra tokenfed.io/issuer %q, want [edge]", iss)
		}
	})
	t.Run("minted for another service", func(t *testing.T) {
		resp, body := get(t, srv, mintEdgeToken(t, key, authtest.OtherAudience))
		if resp.StatusCode != 401 {
			t.Fatalf("got HTTP %d (%s), want 401", resp.StatusCode, body)
		}
		wantChallenge(t, resp.Header, map[string]string{"realm": "orders", "error": "invalid_token", "error_description": invalidToken})
	})
	t.Run("signed by an unknown key", func(t *testing.T) {
		resp, body := get(t, srv, mintEdgeToken(t, jwstest.ECKey(1), authtest.Audience))
		if resp.StatusCode != 401 {
			t.Fatalf("got HTTP %d (%s), want 401", resp.StatusCode, body)
		}
		wantChallenge(t, resp.Header, map[string]string{"realm": "orders", "error": "invalid_token", "error_description": invalidToken})
	})
	t.Run("tokenfed down", func(t *testing.T) {
		p.Stop()
		resp, body := get(t, srv, mintEdgeToken(t, key, authtest.Audience))
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "5" {
			t.Fatalf("got HTTP %d, Retry-After %q (%s); want 503, 5", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		wantChallenge(t, resp.Header, nil)
	})
	if got := handled.Load(); got != 1 {
		t.Errorf("got %d handler calls, want 1 (the token for this service)", got)
	}
}

// startEdgeTokenfed runs tokenfed trusting key as the ServiceAccount
// issuer "edge" (default prefix "edge:").
func startEdgeTokenfed(t *testing.T, key *ecdsa.PrivateKey) *tokenfedproc.Process {
	t.Helper()
	cfg := v1alpha1.Configuration{Issuers: []v1alpha1.Issuer{edge(t, key).Config()}}
	p, err := tokenfedproc.Start(context.Background(), tokenfedproc.Options{Dir: t.TempDir(), Config: cfg})
	if err != nil {
		t.Fatalf("starting tokenfed: %v", err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("tokenfed log:\n%s", p.LogTail(40))
		}
	})
	return p
}

// webhookAuthenticator is k8s.io/apiserver's webhook token authenticator
// for p, configured from a kubeconfig file as kube-apiserver's
// --authentication-token-webhook-config-file is. It has no implicit
// audiences, so a rejection is (nil, false, nil) rather than an error. It
// is called with a discarding logger: client-go logs each request body,
// the token included, at -v=8 from the context's logger, and this test
// logs everything at -v=10.
func webhookAuthenticator(t *testing.T, p *tokenfedproc.Process) authenticator.Token {
	t.Helper()
	kubeconfig := filepath.Join(t.TempDir(), "webhook.kubeconfig")
	if err := p.WriteWebhookKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	restCfg, err := webhook.LoadKubeconfig(kubeconfig, nil)
	if err != nil {
		t.Fatal(err)
	}
	// One quick retry: the "tokenfed down" case need not wait out
	// DefaultRetryBackoff's five.
	backoff := wait.Backoff{Duration: 50 * time.Millisecond, Factor: 1, Steps: 2}
	wh, err := tokenwebhook.New(restCfg, "v1", nil, backoff)
	if err != nil {
		t.Fatal(err)
	}
	return authenticator.TokenFunc(func(ctx context.Context, token string) (*authenticator.Response, bool, error) {
		return wh.AuthenticateToken(logr.NewContext(ctx, logr.Discard()), token)
	})
}

// edge is the ServiceAccount issuer "edge" signing with key: the real one,
// or a forger with a key tokenfed does not trust.
func edge(t *testing.T, key *ecdsa.PrivateKey) *staticissuer.Issuer {
	t.Helper()
	is, err := staticissuer.NewWithOptions(staticissuer.Options{Name: "edge", URL: edgeIssuer, KeyID: edgeKid, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return is
}

// mintEdgeToken signs a token as kube-apiserver's TokenRequest would for
// the service account ns/orders, for audience. staticissuer registers it
// with the token scan.
func mintEdgeToken(t *testing.T, key *ecdsa.PrivateKey, audience string) string {
	t.Helper()
	token, err := edge(t, key).Token(staticissuer.Claims{Namespace: "ns", ServiceAccount: "orders", Audiences: []string{audience}})
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// get sends token to srv and fails if the answer holds any segment of it.
func get(t *testing.T, srv *httptest.Server, token string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, body := do(t, srv.Client(), req)
	for _, seg := range strings.Split(token, ".") {
		if strings.Contains(body, seg) || strings.Contains(fmt.Sprint(resp.Header), seg) {
			t.Fatalf("the answer contains part of the token")
		}
	}
	return resp, body
}
