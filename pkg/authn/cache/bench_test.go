package cache

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/tokenfed/tokenfed/pkg/authn/mapping"
)

// saResponse is the size of a real service-account identity after mapping.
func saResponse(i int) Result {
	return Result{OK: true, Response: &authenticator.Response{
		Audiences: authenticator.Audiences{"https://hub.example.com"},
		User: &user.DefaultInfo{
			Name:   fmt.Sprintf("hub:system:serviceaccount:team-%d:app-%d", i%100, i),
			UID:    "3c9a0a4e-1f1e-4a51-9a3e-5f2b1c7d8e90",
			Groups: []string{"hub:system:serviceaccounts", fmt.Sprintf("hub:system:serviceaccounts:team-%d", i%100), "hub:system:authenticated"},
			Extra: map[string][]string{
				"tokenfed.io/issuer":                         {"hub"},
				"authentication.kubernetes.io/credential-id": {"JTI=6f1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"},
			},
		},
	}}
}

func BenchmarkCacheHit(b *testing.B) {
	c := New(func(context.Context, string) Result { return saResponse(1) }, Options{SuccessTTL: time.Hour, FailureTTL: time.Second, MaxEntries: 1000})
	ctx := context.Background()
	const token = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImFiYyJ9.eyJpc3MiOiJodHRwczovL2h1Yi5leGFtcGxlLmNvbSJ9.c2lnbmF0dXJl"
	c.AuthenticateToken(ctx, token)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok, _ := c.AuthenticateToken(ctx, token); !ok {
				b.Fatal("miss")
			}
		}
	})
}

// BenchmarkBytesPerEntry reports heap bytes per cached entry at 100k
// entries: the cache's own structure (cache-B/entry), and everything a
// cached token keeps alive, its identity included, as the chain caches
// it (through a mapping.Interner): when every token is its own identity
// (unique-B/entry, the worst case: pod-bound tokens, one per pod) and when
// 100 tokens share one (shared-B/entry: tokens an app requests for one
// service account). The target is ≤ 1 KiB.
func BenchmarkBytesPerEntry(b *testing.B) {
	const n = 100000
	for range b.N {
		b.ReportMetric(bytesPerEntry(n, func(i int) Result { return saResponse(i) }, false), "cache-B/entry")
		b.ReportMetric(bytesPerEntry(n, func(i int) Result { return saResponse(i) }, true), "unique-B/entry")
		b.ReportMetric(bytesPerEntry(n, func(i int) Result { return saResponse(i / 100) }, true), "shared-B/entry")
	}
}

// bytesPerEntry caches n answers made by answer and returns the heap it
// grew by per entry. With interned, the answers are made on each miss and
// interned as the chain does, so the heap counts what the cache keeps
// alive of them; without, they exist before the cache and are not counted.
func bytesPerEntry(n int, answer func(int) Result, interned bool) float64 {
	in := mapping.NewInterner(n)
	var results []Result
	if !interned {
		results = make([]Result, n)
		for i := range results {
			results[i] = answer(i)
		}
	}
	before := heapInUse()
	c := New(func(_ context.Context, tok string) Result {
		var i int
		fmt.Sscan(tok[4:], &i)
		if !interned {
			return results[i]
		}
		r := answer(i)
		r.Response = in.Response(r.Response)
		// The credential ID, as the token's own, is unique per token.
		return r
	}, Options{SuccessTTL: time.Hour, FailureTTL: time.Second, MaxEntries: n})
	for i := range n {
		c.AuthenticateToken(context.Background(), fmt.Sprint("tok-", i))
	}
	grown := heapInUse() - before
	runtime.KeepAlive(c)
	runtime.KeepAlive(results)
	runtime.KeepAlive(in)
	return float64(grown) / float64(n)
}

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
