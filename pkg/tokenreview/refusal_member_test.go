package tokenreview

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	tokencache "k8s.io/apiserver/pkg/authentication/token/cache"
	"k8s.io/apiserver/plugin/pkg/authenticator/token/webhook"
	"k8s.io/client-go/rest"

	"github.com/tokenfed/tokenfed/pkg/authn/upstream"
)

// refusingThenFixed answers as the chain does while the issuer's cluster
// refuses tokenfed's own credential, and authenticates once fixed is set.
type refusingThenFixed struct {
	fixed atomic.Bool
	calls atomic.Int32
}

func (a *refusingThenFixed) AuthenticateToken(context.Context, string) (*authenticator.Response, bool, error) {
	a.calls.Add(1)
	if !a.fixed.Load() {
		return nil, false, fmt.Errorf("%w: HTTP 403 Forbidden", upstream.ErrCredentialRefused)
	}
	return &authenticator.Response{User: httpUser}, true, nil
}

// TestCredentialRefusalNotCachedByCallingAPIServer: a refusal of
// tokenfed's own upstream credential says nothing about the token, so a
// calling kube-apiserver must neither cache it as the token's rejection
// nor retry it. kube-apiserver wraps its webhook authenticator in a cache
// that keeps authenticated: false for --authentication-token-webhook-cache-ttl
// (default 2m) but never keeps errors (pkg/kubeapiserver/authenticator/
// config.go: tokencache.New(webhook, false, ttl, ttl)). tokenfed answers
// the refusal 503 without Retry-After (upstream.ErrCredentialRefused is an
// ErrUnavailable), which the member's webhook client turns into an error
// and webhook.DefaultShouldRetry does not retry; an authenticated: false
// without status.error would instead deny the token for the member's whole
// TTL after the credential is fixed, far past upstream.CredentialHold.
func TestCredentialRefusalNotCachedByCallingAPIServer(t *testing.T) {
	auth := &refusingThenFixed{}
	srv := httptest.NewServer(NewHandler(auth, nil, httpMaxBody, V1, nil))
	t.Cleanup(srv.Close)
	wh, err := webhook.New(&rest.Config{Host: srv.URL + pathV1}, "v1", nil,
		wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}) // kube-apiserver's DefaultAuthWebhookRetryBackoff
	if err != nil {
		t.Fatal(err)
	}
	member := tokencache.New(wh, false, 2*time.Minute, 2*time.Minute)

	if _, ok, _ := member.AuthenticateToken(t.Context(), goodToken); ok {
		t.Fatal("the member authenticated a token while tokenfed's credential was refused")
	}
	if n := auth.calls.Load(); n != 1 {
		t.Fatalf("one member review while the credential is refused reached tokenfed %d times, want 1 (no retries)", n)
	}
	auth.fixed.Store(true)
	resp, ok, err := member.AuthenticateToken(t.Context(), goodToken)
	if err != nil || !ok || resp.User.GetName() != httpUser.GetName() {
		t.Fatalf("once the credential is fixed the member answered ok=%v err=%v: it kept tokenfed's refusal of its own credential as the token's rejection", ok, err)
	}
}
