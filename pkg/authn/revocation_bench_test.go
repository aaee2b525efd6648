package authn

import (
	"context"
	"testing"

	"k8s.io/apiserver/pkg/authentication/authenticator"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn/revocation"
)

// watchChain is hubConfig with an onFailure upstream and revocation watch,
// its watcher replaced by a fixed one that holds the tokens' objects.
func watchChain(b *testing.B) *Chain {
	up := newFakeUpstream(b, answerSA)
	cfg := hubConfig(b, up, v1alpha1.UpstreamOnFailure)
	cfg.Issuers[0].Revocation = &v1alpha1.Revocation{Mode: v1alpha1.RevocationWatch}
	c := newChain(b, cfg)
	c.issuers["hub"].revocation = revocation.NewFixed("hub", false,
		revocation.FixedObject{Resource: "serviceaccounts", Namespace: "ns", Name: "sa", UID: "sa-uid"},
		revocation.FixedObject{Resource: "pods", Namespace: "ns", Name: "web-0", UID: "pod-uid"})
	return c
}

// BenchmarkVerifyPath is an uncached review, cache bypassed: route, verify,
// (with watch, the revocation check), map. never is the baseline the
// watch's cost is measured against.
func BenchmarkVerifyPath(b *testing.B) {
	for _, kind := range []tokenKind{plainToken, podBoundToken} {
		for _, mode := range []string{"never", "watch"} {
			b.Run(kind.String()+"/"+mode, func(b *testing.B) {
				c := newChain(b, hubConfig(b, nil, never))
				if mode == "watch" {
					c = watchChain(b)
				}
				token := kind.mint(b)
				ctx := authenticator.WithAudiences(context.Background(), authenticator.Audiences{issuerURL})
				if r := c.review(ctx, token, true); !r.OK {
					b.Fatalf("got %v, want authenticated", r.Err)
				}
				b.ReportAllocs()
				for b.Loop() {
					c.review(ctx, token, true)
				}
			})
		}
	}
}

// BenchmarkChainCachedWatch is BenchmarkChainCachedRS256 for never and
// watch: with watch, every hit re-checks the token's objects.
func BenchmarkChainCachedWatch(b *testing.B) {
	for _, kind := range []tokenKind{plainToken, podBoundToken} {
		b.Run(kind.String()+"/never", func(b *testing.B) { benchCached(b, newChain(b, hubConfig(b, nil, never)), kind.mint(b)) })
		b.Run(kind.String()+"/watch", func(b *testing.B) { benchCached(b, watchChain(b), kind.mint(b)) })
	}
}
