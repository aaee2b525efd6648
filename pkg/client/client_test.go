package client

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"

	"github.com/tokenfed/tokenfed/pkg/testing/staticissuer"
)

// TestReviewAuthenticated: a real tokenfed over TLS answers who a token
// is, with the issuer's prefix, its extras and the audiences asked about;
// AuthenticateToken gives the same through authenticator.Token.
func TestReviewAuthenticated(t *testing.T) {
	p := startTokenfed(t, nil)
	c := newClient(t, certConfig(p))
	token := mint(t, staticissuer.Claims{Audiences: []string{appAudience}})

	res, err := c.Review(ctxTimeout(t, 30*time.Second), token, appAudience)

	if err != nil {
		t.Fatalf("got error %v, want authenticated", err)
	}
	if got, want := res.User.GetName(), hub.Username("devices", "device-1"); got != want {
		t.Errorf("got username %q, want %q", got, want)
	}
	if groups := res.User.GetGroups(); !slices.Contains(groups, "hub:system:serviceaccounts:devices") {
		t.Errorf("got groups %q, want hub:system:serviceaccounts:devices among them", groups)
	}
	if got := res.User.GetExtra()["tokenfed.io/issuer"]; !slices.Equal(got, []string{"hub"}) {
		t.Errorf("got extra tokenfed.io/issuer %q, want [hub]", got)
	}
	if !slices.Equal(res.Audiences, []string{appAudience}) {
		t.Errorf("got audiences %q, want [%s]", res.Audiences, appAudience)
	}

	resp, ok, err := c.AuthenticateToken(authenticator.WithAudiences(ctxTimeout(t, 30*time.Second), authenticator.Audiences{appAudience}), token)
	if err != nil || !ok || resp.User.GetName() != res.User.GetName() {
		t.Fatalf("got AuthenticateToken (%v, %v, %v), want the user %q", resp, ok, err, res.User.GetName())
	}
}

// TestReviewNotAuthenticated: a token minted for another audience is
// tokenfed's 200 "not authenticated", with its reason, and (nil, false,
// nil) to authenticator.Token.
func TestReviewNotAuthenticated(t *testing.T) {
	p := startTokenfed(t, nil)
	c := newClient(t, certConfig(p))
	token := mint(t, staticissuer.Claims{Audiences: []string{"https://elsewhere.example"}})

	_, err := c.Review(ctxTimeout(t, 30*time.Second), token, appAudience)

	var na *NotAuthenticatedError
	if !errors.As(err, &na) || !errors.Is(err, ErrNotAuthenticated) {
		t.Fatalf("got %v, want a *NotAuthenticatedError matching ErrNotAuthenticated", err)
	}
	if na.Code != 200 || na.Reason == "" {
		t.Errorf("got code %d reason %q, want 200 and tokenfed's reason", na.Code, na.Reason)
	}
	if errors.Is(err, ErrUnavailable) || errors.Is(err, ErrCallerRefused) {
		t.Errorf("got %v matching another class too", err)
	}
	checkNoToken(t, err, token)

	resp, ok, err := c.AuthenticateToken(authenticator.WithAudiences(ctxTimeout(t, 30*time.Second), authenticator.Audiences{appAudience}), token)
	if resp != nil || ok || err != nil {
		t.Fatalf("got AuthenticateToken (%v, %v, %v), want (nil, false, nil)", resp, ok, err)
	}
}

// TestReviewMalformed: tokenfed answers a review it will not read (here,
// more audiences than it takes) with 400; that is "not authenticated" too,
// with tokenfed's message.
func TestReviewMalformed(t *testing.T) {
	p := startTokenfed(t, nil)
	c := newClient(t, certConfig(p))
	auds := make([]string, 33)
	for i := range auds {
		auds[i] = fmt.Sprintf("https://aud-%d.example", i)
	}

	_, err := c.Review(ctxTimeout(t, 30*time.Second), "opaque-token-malformed", auds...)

	var na *NotAuthenticatedError
	if !errors.As(err, &na) || na.Code != 400 || na.Reason != wantTooManyAudiencesReason {
		t.Fatalf("got %#v (%v), want a 400 NotAuthenticatedError with reason %q", na, err, wantTooManyAudiencesReason)
	}
}

// TestWebhookKubeconfig: the kubeconfig kube-apiserver is given
// (server https://.../authenticate, the CA, a client certificate) works
// as it is.
func TestWebhookKubeconfig(t *testing.T) {
	p := startTokenfed(t, nil)
	path := t.TempDir() + "/webhook.kubeconfig"
	if err := p.WriteWebhookKubeconfig(path); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, Config{Kubeconfig: path})
	token := mint(t, staticissuer.Claims{})

	res, err := c.Review(ctxTimeout(t, 30*time.Second), token)

	if err != nil || res.User.GetName() != hub.Username("devices", "device-1") {
		t.Fatalf("got (%v, %v), want %s", res, err, hub.Username("devices", "device-1"))
	}
}

// TestUnavailableClosedPort: nothing listens, so the review fails with
// ErrUnavailable whose cause is the refused connection, after the
// retries.
func TestUnavailableClosedPort(t *testing.T) {
	port := freePort(t)
	caFile := writeCA(t)
	c := newClient(t, Config{Server: "https://127.0.0.1:" + port, CAFile: caFile, MaxRetries: 2})

	start := time.Now()
	_, err := c.Review(ctxTimeout(t, 30*time.Second), "opaque-token-closed-port")

	var u *UnavailableError
	if !errors.As(err, &u) || u.Code != 0 || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want an UnavailableError without an HTTP status", err)
	}
	if !errors.Is(err, errConnRefused) {
		t.Errorf("got %v, want its cause to be the refused connection", err)
	}
	// Two retries: 100ms and 200ms of backoff.
	if elapsed := time.Since(start); elapsed < 300*time.Millisecond || elapsed > 10*time.Second {
		t.Errorf("got %s, want the backoff of two retries (300ms) and not much more", elapsed)
	}
}

// wantTooManyAudiencesReason is tokenfed's message for a review with 33
// audiences.
const wantTooManyAudiencesReason = "malformed TokenReview: spec.audiences has 33 entries, more than 32"
