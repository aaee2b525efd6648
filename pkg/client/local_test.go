package client

import (
	"github.com/tokenfed/tokenfed/pkg/authn/jws"

	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
)

// TestRefusedLocally: a token no tokenfed authenticates is "not
// authenticated" (Code 0) without a review, so a client of the
// application cannot spend the application's rate at tokenfed with it;
// AuthenticateToken says (nil, false, nil). Tokens tokenfed may accept
// are sent, surrounding whitespace and the largest size included.
func TestRefusedLocally(t *testing.T) {
	f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, _ *authenticationv1.TokenReview) {
		writeReview(w, 200, authenticatedAs("u"))
	})
	c := newClient(t, f.config())
	for _, tc := range []struct {
		name, token string
		wantReason  string // "": sent
	}{
		{"empty", "", "token is empty"},
		{"whitespace", " \t\n", "token is empty"},
		{"a space inside", "opaque token", "malformed token: token contains whitespace, control or non-ASCII characters"},
		{"the Bearer scheme", "Bearer opaque-token", `malformed token: token includes the "Bearer" scheme; send only the token`},
		{"a control character", "opaque-token\x00", "malformed token: token contains whitespace, control or non-ASCII characters"},
		{"non-ASCII", "opaque-tökén", "malformed token: token contains whitespace, control or non-ASCII characters"},
		{"over the size bound", strings.Repeat("a", jws.MaxTokenBytes+1), "token is larger than 16384 bytes"},
		{"at the size bound", strings.Repeat("a", jws.MaxTokenBytes), ""},
		{"surrounding whitespace", " opaque-token\n", ""},
		{"short", "abc", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := f.calls()

			_, err := c.Review(ctxTimeout(t, 30*time.Second), tc.token)

			if tc.wantReason == "" {
				if err != nil || f.calls() != calls+1 {
					t.Fatalf("got %v after %d requests, want the token sent and authenticated", err, f.calls()-calls)
				}
				return
			}
			var na *NotAuthenticatedError
			if !errors.As(err, &na) || na.Code != 0 || na.Reason != tc.wantReason {
				t.Fatalf("got %#v (%v), want a NotAuthenticatedError with Code 0 and reason %q", na, err, tc.wantReason)
			}
			if got := f.calls(); got != calls {
				t.Fatalf("got %d requests, want none", got-calls)
			}
			resp, ok, err := c.AuthenticateToken(authenticator.WithAudiences(ctxTimeout(t, 30*time.Second), authenticator.Audiences{"aud"}), tc.token)
			if resp != nil || ok || err != nil {
				t.Fatalf("AuthenticateToken: got (%v, %v, %v), want (nil, false, nil)", resp, ok, err)
			}
		})
	}
}
