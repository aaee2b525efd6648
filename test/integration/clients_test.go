package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/util/webhook"
	tokenwebhook "k8s.io/apiserver/plugin/pkg/authenticator/token/webhook"
	"k8s.io/client-go/kubernetes"
)

// TestKubeAPIServerWebhookClient drives tokenfed with the exact client
// kube-apiserver uses, configured from a kubeconfig file as
// --authentication-token-webhook-config-file is.
func TestKubeAPIServerWebhookClient(t *testing.T) {
	p := startTokenfed(t, nil)
	for _, version := range []string{"v1", "v1beta1"} {
		t.Run(version, func(t *testing.T) {
			kubeconfig := filepath.Join(t.TempDir(), "webhook.kubeconfig")
			if err := p.WriteWebhookKubeconfig(kubeconfig); err != nil {
				t.Fatal(err)
			}
			restCfg, err := webhook.LoadKubeconfig(kubeconfig, nil)
			if err != nil {
				t.Fatalf("loading webhook kubeconfig: %v", err)
			}
			wh, err := tokenwebhook.New(restCfg, version, nil, *tokenwebhook.DefaultRetryBackoff())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			resp, ok, err := wh.AuthenticateToken(ctx, unknownIssuerToken)
			if ok || resp != nil {
				t.Fatalf("got authenticated=%v resp=%v, want rejection while no issuer is configured", ok, resp)
			}
			if err == nil || !strings.Contains(err.Error(), "token issuer is not trusted") {
				t.Fatalf("got error %v, want the documented \"token issuer is not trusted\"", err)
			}
			want := `tokenfed_tokenreview_requests_total{api_version="` + version + `",code="200",outcome="unauthenticated"} 1`
			if got := metric(t, p, "tokenfed_tokenreview_requests_total{api_version=\""+version+"\""); got != want {
				t.Fatalf("got metrics %q, want %q (the review must arrive in %s)", got, want, version)
			}
		})
	}
}

// TestClientGo points client-go's TokenReview client at tokenfed, which
// serves kube-apiserver's own path. The answer's apiVersion and kind are
// checked on the wire: client-go's typed client clears TypeMeta when it
// decodes, so the decoded object cannot show them.
func TestClientGo(t *testing.T) {
	p := startTokenfed(t, nil)
	bodies := &bodyRecorder{}
	cfg := p.RESTConfig()
	cfg.WrapTransport = bodies.wrap
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: "header.payload.sig", Audiences: []string{"api"}}}
	got, err := cs.AuthenticationV1().TokenReviews().Create(context.Background(), tr, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if got.Status.Authenticated || got.Status.Error == "" {
		t.Fatalf("got status %+v, want authenticated=false with an error", got.Status)
	}
	if got.Spec.Token != "" {
		t.Fatalf("response echoes spec.token")
	}
	var wire metav1.TypeMeta
	if err := json.Unmarshal(bodies.last(), &wire); err != nil {
		t.Fatalf("got answer %q, want JSON: %v", bodies.last(), err)
	}
	if wire.APIVersion != "authentication.k8s.io/v1" || wire.Kind != "TokenReview" {
		t.Fatalf("got apiVersion %q, kind %q on the wire, want authentication.k8s.io/v1 TokenReview", wire.APIVersion, wire.Kind)
	}
}

// bodyRecorder keeps the body of the last response its round tripper
// read, as it came off the wire, and hands the client an unread copy.
type bodyRecorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	body []byte
}

// wrap is a rest.Config's WrapTransport.
func (b *bodyRecorder) wrap(next http.RoundTripper) http.RoundTripper {
	b.next = next
	return b
}

func (b *bodyRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := b.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.body = body
	b.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

func (b *bodyRecorder) last() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.body
}

// TestCallerWithoutClientCertificate: with a client CA configured, callers
// without a certificate are refused with 401, and health stays open.
func TestCallerWithoutClientCertificate(t *testing.T) {
	p := startTokenfed(t, nil)
	tr := anonClient(p)
	code, body := post(t, tr, p.URL+"/authenticate", "application/json", `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"x"}}`)
	if code != 401 || !strings.Contains(body, "a client certificate or a bearer token") {
		t.Fatalf("got %d %s, want 401 asking for a client certificate", code, body)
	}
	resp, err := tr.Get(p.URL + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("got readyz %v %v, want 200 without a client certificate", resp, err)
	}
}

// TestUntrustedClientCertificate: a certificate from another CA gets a
// 401 that says so, as at kube-apiserver (not a handshake failure, which a
// TLS 1.3 client sees only as a reset connection); the server keeps
// serving trusted callers.
func TestUntrustedClientCertificate(t *testing.T) {
	p := startTokenfed(t, nil)
	code, body := post(t, foreignClient(t, p), p.URL+"/authenticate", "application/json", validV1)
	if code != 401 || !strings.Contains(body, "the client certificate is not accepted") {
		t.Fatalf("got %d %s, want 401 saying the client certificate is not accepted", code, body)
	}
	if code, _ := post(t, p.Client(), p.URL+"/authenticate", "application/json", validV1); code != 200 {
		t.Fatalf("trusted caller after an untrusted one: got HTTP %d, want 200", code)
	}
}
