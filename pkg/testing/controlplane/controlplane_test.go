package controlplane

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

const (
	testNS       = "ns"
	testSA       = "sa"
	testAudience = "tokenfed-test"
	testUser     = "system:serviceaccount:ns:sa"
	podNameExtra = "authentication.kubernetes.io/pod-name"
	podUIDExtra  = "authentication.kubernetes.io/pod-uid"
)

// TestControlPlane runs one real control plane and checks, in order, what
// tokenfed's tests rely on. Subtests share it because each start costs
// seconds on a 2-core machine.
func TestControlPlane(t *testing.T) {
	hook := newFakeWebhook(t)
	cp := StartT(t, Options{Name: "hub", Webhook: &WebhookOptions{URL: hook.srv.URL, CAFile: hook.caFile, Version: "v1"}})
	pod := createFixtures(t, cp)
	t.Logf("kube-apiserver flags: %s", strings.Join(cp.Args(), " "))

	var apiToken string
	t.Run("BoundTokenReview", func(t *testing.T) { testBoundTokenReview(t, cp, pod) })
	t.Run("KubectlWhoAmI", func(t *testing.T) { apiToken = testKubectlWhoAmI(t, cp, pod) })
	t.Run("Webhook", func(t *testing.T) { testWebhook(t, cp, hook) })
	t.Run("AnonymousDiscovery", func(t *testing.T) { testAnonymousDiscovery(t, cp) })
	t.Run("RotateSigningKey", func(t *testing.T) { testRotateSigningKey(t, cp, apiToken) })
	t.Run("Stop", func(t *testing.T) { testStop(t, cp) })
}

func createFixtures(t *testing.T, cp *ControlPlane) *corev1.Pod {
	t.Helper()
	ctx := t.Context()
	if _, err := cp.CreateNamespace(ctx, testNS); err != nil {
		t.Fatal(err)
	}
	if _, err := cp.CreateServiceAccount(ctx, testNS, testSA); err != nil {
		t.Fatal(err)
	}
	pod, err := cp.CreatePod(ctx, testNS, "pod", testSA)
	if err != nil {
		t.Fatal(err)
	}
	return pod
}

func podToken(t *testing.T, cp *ControlPlane, pod *corev1.Pod, audiences ...string) string {
	t.Helper()
	token, err := cp.CreateToken(t.Context(), testNS, testSA, TokenOptions{
		Audiences: audiences,
		BoundPod:  &BoundObject{Name: pod.Name, UID: pod.UID},
	})
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func testBoundTokenReview(t *testing.T, cp *ControlPlane, pod *corev1.Pod) {
	token := podToken(t, cp, pod, testAudience)
	status, err := cp.TokenReview(t.Context(), token, []string{testAudience})
	if err != nil {
		t.Fatal(err)
	}
	if !status.Authenticated || status.User.Username != testUser {
		t.Fatalf("got authenticated=%v user=%q error=%q, want %q", status.Authenticated, status.User.Username, status.Error, testUser)
	}
	if got := status.User.Extra[podNameExtra]; !slices.Equal(got, []string{pod.Name}) {
		t.Errorf("extra %s: got %v, want [%s]", podNameExtra, got, pod.Name)
	}
	if got := status.User.Extra[podUIDExtra]; !slices.Equal(got, []string{string(pod.UID)}) {
		t.Errorf("extra %s: got %v, want [%s]", podUIDExtra, got, pod.UID)
	}
	if !slices.Equal(status.Audiences, []string{testAudience}) {
		t.Errorf("audiences: got %v, want [%s]", status.Audiences, testAudience)
	}
	// The apiserver accepts only its own audiences for API calls.
	if out, _, err := cp.KubectlAs(t.Context(), token, "auth", "whoami"); err == nil {
		t.Errorf("kubectl with a %s-only token: got success (%q), want Unauthorized", testAudience, out)
	}
}

// testKubectlWhoAmI returns the token it used, for the rotation test.
func testKubectlWhoAmI(t *testing.T, cp *ControlPlane, pod *corev1.Pod) string {
	token := podToken(t, cp, pod)
	out, _, err := cp.KubectlAs(t.Context(), token, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
	if err != nil {
		t.Fatal(err)
	}
	if out != testUser {
		t.Errorf("kubectl auth whoami: got %q, want %q", out, testUser)
	}
	return token
}

func testWebhook(t *testing.T, cp *ControlPlane, hook *fakeWebhook) {
	out, _, err := cp.KubectlAs(t.Context(), webhookToken, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
	if err != nil {
		t.Fatal(err)
	}
	if out != webhookUser {
		t.Errorf("kubectl auth whoami through the webhook: got %q, want %q", out, webhookUser)
	}
	if got := hook.seen("authentication.k8s.io/v1"); got == 0 {
		t.Errorf("webhook v1 reviews: got %d, want some (seen: %v)", got, hook.versions)
	}
}

func testAnonymousDiscovery(t *testing.T, cp *ControlPlane) {
	ctx := t.Context()
	client := caOnlyClient(t, cp.CAFile)
	discoveryURL := cp.IssuerURL + "/.well-known/openid-configuration"
	if status, err := getStatus(ctx, client, discoveryURL); err != nil || status == http.StatusOK {
		t.Errorf("anonymous discovery before allowing it: got %d %v, want 401 or 403", status, err)
	}
	if err := cp.AllowAnonymousIssuerDiscovery(ctx); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	getJSON(t, client, discoveryURL, &doc)
	if doc.Issuer != cp.IssuerURL {
		t.Errorf("discovery issuer: got %q, want %q", doc.Issuer, cp.IssuerURL)
	}
	if n := len(jwksKeys(t, client, doc.JWKSURI)); n != 1 {
		t.Errorf("keys at %s: got %d, want 1", doc.JWKSURI, n)
	}
}

func testRotateSigningKey(t *testing.T, cp *ControlPlane, oldToken string) {
	ctx := t.Context()
	newKey, err := NewSigningKeyFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	oldPub, issuer := cp.ServiceAccountPublicKeyFile, cp.IssuerURL
	err = cp.Restart(ctx, func(o *Options) {
		o.SigningKeyFile = newKey
		o.ServiceAccountKeyFiles = append(o.ServiceAccountKeyFiles, oldPub)
	})
	if err != nil {
		t.Fatal(err)
	}
	if cp.IssuerURL != issuer || cp.ServiceAccountPublicKeyFile == oldPub {
		t.Errorf("after restart: got issuer %s and public key %s, want issuer %s and a new key", cp.IssuerURL, cp.ServiceAccountPublicKeyFile, issuer)
	}
	newToken, err := cp.CreateToken(ctx, testNS, testSA, TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for name, token := range map[string]string{"old": oldToken, "new": newToken} {
		status, err := cp.TokenReview(ctx, token, nil)
		if err != nil || !status.Authenticated {
			t.Errorf("%s token after rotation: got %+v %v, want authenticated", name, status, err)
		}
	}
	if oldKID, newKID := tokenKID(t, oldToken), tokenKID(t, newToken); oldKID == newKID {
		t.Errorf("kid: got %q for both tokens, want different keys", oldKID)
	}
	if n := len(jwksKeys(t, caOnlyClient(t, cp.CAFile), cp.URL+"/openid/v1/jwks")); n != 2 {
		t.Errorf("keys after rotation: got %d, want 2 (new and old)", n)
	}
}

func testStop(t *testing.T, cp *ControlPlane) {
	cp.Stop()
	for _, p := range []*process{cp.apiserver, cp.etcd} {
		if done, _ := p.exited(); !done {
			t.Errorf("%s: still running after Stop", p.name)
		}
	}
	if _, err := os.Stat(cp.Dir); !os.IsNotExist(err) {
		t.Errorf("dir %s after Stop: got %v, want it removed", cp.Dir, err)
	}
	cp.Stop() // and again from t.Cleanup: must be a no-op
}

func caOnlyClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	client, err := (&ControlPlane{CAFile: caFile}).anonymousHTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	return client
}

func getJSON(t *testing.T, client *http.Client, url string, into any) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: got %s, want 200", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func jwksKeys(t *testing.T, client *http.Client, url string) []json.RawMessage {
	t.Helper()
	var jwks struct {
		Keys []json.RawMessage `json:"keys"`
	}
	getJSON(t, client, url, &jwks)
	return jwks.Keys
}

func tokenKID(t *testing.T, token string) string {
	t.Helper()
	header, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		t.Fatal(fmt.Errorf("decode JWT header: %w", err))
	}
	var h struct {
		KID string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h.KID
}

// TestStartFailureShowsLog checks that a kube-apiserver that will not start
// is reported with its own last words, not only as a timeout.
func TestStartFailureShowsLog(t *testing.T) {
	cp, err := Start(t.Context(), Options{Name: "bad", Dir: t.TempDir(), ExtraArgs: []string{"--no-such-flag"}})
	if err == nil {
		cp.Stop()
		t.Fatal("got a running control plane with an unknown kube-apiserver flag, want an error")
	}
	for _, want := range []string{`"bad"`, "kube-apiserver exited", "kube-apiserver.log", "unknown flag: --no-such-flag"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got error\n%v\nwant it to contain %q", err, want)
		}
	}
}
