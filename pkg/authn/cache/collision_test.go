package cache

import (
	"errors"
	"testing"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
)

// collidingKeys returns two keys that differ but share the 8 bytes a shard
// indexes entries by.
func collidingKeys() (a, b [32]byte) {
	for i := range a {
		a[i], b[i] = byte(i), byte(i)
	}
	b[0], b[31] = 0xaa, 0xbb
	if index(a) != index(b) || a == b {
		panic("keys do not collide")
	}
	return a, b
}

// TestIndexCollisionNeverServesAnotherKeysAnswer: two HMAC keys that share
// a shard's 8-byte index are two tokens. The one stored last replaces the
// other, and a lookup of the other misses instead of getting its answer,
// whichever segment either lives in; the segments' counts stay true.
func TestIndexCollisionNeverServesAnotherKeysAnswer(t *testing.T) {
	a, b := collidingKeys()
	alice := Result{Response: &authenticator.Response{User: &user.DefaultInfo{Name: "alice"}}, OK: true}
	bob := Result{Response: &authenticator.Response{User: &user.DefaultInfo{Name: "bob"}}, OK: true}
	failed := Result{Err: errors.New("invalid signature")}

	s := newShard(4, 4)
	s.set(a, alice, 0, 100)
	if r, ok := s.get(b, 0); ok {
		t.Fatalf("lookup of b got a's answer %+v", r.Response.User)
	}
	s.set(b, bob, 0, 100)
	if r, ok := s.get(a, 0); ok {
		t.Fatalf("lookup of a after b replaced it got %+v", r.Response.User)
	}
	if r, ok := s.get(b, 0); !ok || r.Response.User.GetName() != "bob" {
		t.Fatalf("lookup of b: got %v, %v; want bob", r.Response, ok)
	}
	s.set(a, failed, 0, 100)
	if r, ok := s.get(a, 0); !ok || r.OK || r.Err != failed.Err {
		t.Fatalf("lookup of a: got %+v, %v; want its failure", r, ok)
	}
	if _, ok := s.get(b, 0); ok {
		t.Fatal("b's answer survived a's failure taking its index")
	}
	if s.authenticated.len != 0 || s.failed.len != 1 || s.len() != 1 {
		t.Fatalf("segments hold %d answers and %d failures, map %d entries; want 0, 1, 1", s.authenticated.len, s.failed.len, s.len())
	}
}
