package authn

import (
	"context"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
)

// benchCached measures a review answered from the cache: canonicalisation,
// the cache key and the lookup, which every repeated token pays.
func benchCached(b *testing.B, c *Chain, token string) {
	ctx := authenticator.WithAudiences(context.Background(), authenticator.Audiences{issuerURL})
	if _, ok, err := c.AuthenticateToken(ctx, token); !ok {
		b.Fatalf("warm-up: got %v, want authenticated", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, _ := c.AuthenticateToken(ctx, token); !ok {
			b.Fatal("got a rejection, want the cached answer")
		}
	}
}

func BenchmarkChainCachedRS256(b *testing.B) {
	benchCached(b, newChain(b, hubConfig(b, nil, never)), plainToken.mint(b))
}

// BenchmarkChainCachedES256: a high-S spelling is rewritten on every
// review, a low-S one only read.
func BenchmarkChainCachedES256(b *testing.B) {
	cfg, key := esConfig(b, nil, never)
	high := esHighS(signES256(b, key, boundClaims(time.Now())))
	low, _ := esTwin(high)
	c := newChain(b, cfg)
	b.Run("high s", func(b *testing.B) { benchCached(b, c, high) })
	b.Run("low s", func(b *testing.B) { benchCached(b, c, low) })
}
