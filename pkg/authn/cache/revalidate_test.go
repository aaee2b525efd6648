package cache

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
)

// flag is a Revalidator whose answer the test sets.
type flag struct{ valid atomic.Bool }

func (f *flag) StillValid(time.Time) bool { return f.valid.Load() }

// TestRevalidate: a cached success is served while its revalidator holds,
// and once it does not, the token is reviewed anew on its next lookup,
// well within the success TTL; LookupAuthenticated does not serve it
// either.
func TestRevalidate(t *testing.T) {
	valid := &flag{}
	valid.valid.Store(true)
	next := &counting{result: func(token string) Result {
		return Result{Response: &authenticator.Response{User: &user.DefaultInfo{Name: "u"}}, OK: true, Revalidate: valid}
	}}
	c := New(next.authenticate, Options{SuccessTTL: time.Hour, FailureTTL: time.Second, MaxEntries: 10})
	ctx := context.Background()
	for range 3 {
		if _, ok, _ := c.AuthenticateToken(ctx, "tok"); !ok {
			t.Fatal("want authenticated")
		}
	}
	if got := next.calls.Load(); got != 1 {
		t.Fatalf("while valid: got %d reviews, want 1", got)
	}
	if _, ok := c.LookupAuthenticated(nil, "tok"); !ok {
		t.Fatal("LookupAuthenticated: want the cached answer while valid")
	}
	valid.valid.Store(false)
	if _, ok := c.LookupAuthenticated(nil, "tok"); ok {
		t.Fatal("LookupAuthenticated: served an answer its revalidator withdrew")
	}
	c.AuthenticateToken(ctx, "tok")
	c.AuthenticateToken(ctx, "tok")
	if got := next.calls.Load(); got != 3 {
		t.Fatalf("after withdrawal: got %d reviews, want 3 (one per lookup)", got)
	}
}
