package authn

import (
	"context"
	"errors"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn/revocation"
)

// oldToken is a plain token of ns/sa (UID sa-uid) issued issuedAgo ago.
func oldToken(t *testing.T, issuedAgo time.Duration) string {
	t.Helper()
	trusted, _ := testKeys()
	claims := boundClaims(time.Now())
	claims["iat"], claims["nbf"] = time.Now().Add(-issuedAgo).Unix(), time.Now().Add(-issuedAgo).Unix()
	return sign(t, trusted, knownKid, claims)
}

// TestChainRevocation: with revocation watch, a locally verified token is
// answered by the watch when it can (no upstream call), rejected when its
// ServiceAccount is gone, and otherwise goes to notSynced: the upstream
// confirms it, or it is rejected uncached.
func TestChainRevocation(t *testing.T) {
	present := revocation.FixedObject{Resource: "serviceaccounts", Namespace: "ns", Name: "sa", UID: "sa-uid"}
	cases := []struct {
		name         string
		objects      []revocation.FixedObject
		token        string
		notSynced    v1alpha1.RevocationFallback
		wantAuth     bool
		wantUpstream int64
		wantErr      error
	}{
		{"present", []revocation.FixedObject{present}, oldToken(t, time.Minute), v1alpha1.RevocationFallbackUpstream, true, 0, nil},
		{"deleted", nil, oldToken(t, time.Minute), v1alpha1.RevocationFallbackUpstream, false, 0, nil},
		{"too new to tell, upstream", nil, oldToken(t, 0), v1alpha1.RevocationFallbackUpstream, true, 1, nil},
		{"too new to tell, reject", nil, oldToken(t, 0), v1alpha1.RevocationFallbackReject, false, 0, errRevocationUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up := newFakeUpstream(t, answerSA)
			policy := v1alpha1.UpstreamOnFailure
			cfg := hubConfig(t, up, policy)
			cfg.Issuers[0].Revocation = &v1alpha1.Revocation{Mode: v1alpha1.RevocationWatch, NotSynced: tc.notSynced}
			c := newChain(t, cfg)
			c.issuers["hub"].revocation = revocation.NewFixed("hub", false, tc.objects...)
			ctx := authenticator.WithAudiences(context.Background(), authenticator.Audiences{issuerURL})
			_, ok, err := c.AuthenticateToken(ctx, tc.token)
			if ok != tc.wantAuth || up.hits.Load() != tc.wantUpstream {
				t.Fatalf("got authenticated=%v (%v) after %d upstream reviews, want %v after %d", ok, err, up.hits.Load(), tc.wantAuth, tc.wantUpstream)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
		})
	}
}

// TestChainRevocationWithdrawsCachedAnswers: a cached answer is served only
// while the watch still holds its ServiceAccount, through both
// AuthenticateToken and Cached.
func TestChainRevocationWithdrawsCachedAnswers(t *testing.T) {
	up := newFakeUpstream(t, answerSA)
	cfg := hubConfig(t, up, v1alpha1.UpstreamOnFailure)
	cfg.Issuers[0].Revocation = &v1alpha1.Revocation{Mode: v1alpha1.RevocationWatch}
	c := newChain(t, cfg)
	present := revocation.NewFixed("hub", false, revocation.FixedObject{Resource: "serviceaccounts", Namespace: "ns", Name: "sa", UID: "sa-uid"})
	c.issuers["hub"].revocation = present
	ctx := authenticator.WithAudiences(context.Background(), authenticator.Audiences{issuerURL})
	token := oldToken(t, time.Minute)
	if _, ok, err := c.AuthenticateToken(ctx, token); !ok {
		t.Fatalf("got %v, want authenticated", err)
	}
	if _, ok := c.Cached(token, []string{issuerURL}); !ok {
		t.Fatal("Cached: want the answer while the ServiceAccount exists")
	}
	// The cached answer's check reads the watcher it was verified with:
	// remove the object from it, as a delete event would.
	present.Forget("serviceaccounts", "ns", "sa")
	if _, ok := c.Cached(token, []string{issuerURL}); ok {
		t.Fatal("Cached: served the answer after the ServiceAccount was deleted")
	}
	if _, ok, _ := c.AuthenticateToken(ctx, token); ok {
		t.Fatal("served the cached answer after the ServiceAccount was deleted")
	}
	if got := up.hits.Load(); got != 0 {
		t.Fatalf("got %d upstream reviews, want 0", got)
	}
}
