package cache

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
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
// entries, identity included (the target is ≤ 1 KiB).
func BenchmarkBytesPerEntry(b *testing.B) {
	const n = 100000
	for range b.N {
		results := make([]Result, n)
		for i := range results {
			results[i] = saResponse(i)
		}
		before := heapInUse()
		c := New(func(_ context.Context, tok string) Result {
			var i int
			fmt.Sscan(tok[4:], &i)
			return results[i]
		}, Options{SuccessTTL: time.Hour, FailureTTL: time.Second, MaxEntries: n})
		for i := range n {
			c.AuthenticateToken(context.Background(), fmt.Sprint("tok-", i))
		}
		withCache := heapInUse()
		identities := identityBytes(results)
		b.ReportMetric(float64(withCache-before)/n, "cache-B/entry")
		b.ReportMetric(float64(withCache-before+identities)/n, "total-B/entry")
		runtime.KeepAlive(c)
		runtime.KeepAlive(results)
	}
}

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// identityBytes measures the responses themselves, which the cache holds
// but which exist before it in this benchmark.
func identityBytes(results []Result) int64 {
	before := heapInUse()
	clone := make([]Result, len(results))
	for i := range results {
		clone[i] = saResponse(i)
	}
	after := heapInUse()
	runtime.KeepAlive(clone)
	return after - before
}
