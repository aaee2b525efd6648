package keyset

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

// unpublishedCases: a kid still unknown after the unknown-kid refetch is
// the issuer's verdict (ErrUnpublishedKey) only when the keys served are
// its current document; otherwise it is plain ErrUnknownKey, which a caller
// may still ask the issuer's cluster about.
var unpublishedCases = []struct {
	name string
	// static is "", "inline" or "file".
	static string
	// failAfterLoad makes the issuer answer 503 after the first load.
	failAfterLoad bool
	// advance is the time between the first load and the unknown kid.
	advance         time.Duration
	wantUnpublished bool
	wantFetches     int64
}{
	{name: "fetched, refetched for the kid", advance: DefaultUnknownKidCooldown, wantUnpublished: true, wantFetches: 2},
	{name: "fetched, within the cooldown of the last fetch", advance: 5 * time.Second, wantUnpublished: true, wantFetches: 1},
	{name: "fetched, the refetch failed", failAfterLoad: true, advance: DefaultUnknownKidCooldown, wantFetches: 2},
	{name: "inline static keys may lag a rotation", static: "inline"},
	{name: "a static file may lag a rotation", static: "file"},
}

func TestUnpublishedKey(t *testing.T) {
	ek := testECKey(t)
	doc := jwksDoc(t, publicJWK(ek, "ec1", ""))
	for _, tc := range unpublishedCases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newJWKSServer(t, doc)
			ks, fc := unpublishedKeySet(t, srv, tc.static, doc)
			ctx := context.Background()
			if _, err := ks.Key(ctx, "ec1", "ES256"); err != nil {
				t.Fatalf("first load: got error %v, want nil", err)
			}
			if tc.failAfterLoad {
				srv.set(http.StatusServiceUnavailable, []byte("down"), "")
			}
			fc.Step(tc.advance)

			_, err := ks.Key(ctx, "nope", "ES256")

			if !errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrUnpublishedKey) != tc.wantUnpublished {
				t.Errorf("got error %v, want ErrUnknownKey with ErrUnpublishedKey %v", err, tc.wantUnpublished)
			}
			if got := srv.hits.Load(); got != tc.wantFetches {
				t.Errorf("got %d fetches, want %d", got, tc.wantFetches)
			}
		})
	}
}

// unpublishedKeySet reads srv, or doc as static keys.
func unpublishedKeySet(t *testing.T, srv *jwksServer, static string, doc []byte) (*KeySet, *testingclock.FakeClock) {
	t.Helper()
	if static == "" {
		return remoteKeySet(t, srv, nil)
	}
	fc := testingclock.NewFakeClock(epoch)
	opts := Options{IssuerName: "test", Algorithms: []string{"ES256"}, Clock: fc, StaticJWKS: doc}
	if static == "file" {
		opts.StaticJWKS, opts.StaticFile = nil, filepath.Join(t.TempDir(), "jwks.json")
		if err := os.WriteFile(opts.StaticFile, doc, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ks, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return ks, fc
}

// TestLoaded: routing reads Loaded to know whether HasKid's answer is the
// issuer's whole key set.
func TestLoaded(t *testing.T) {
	ek := testECKey(t)
	srv := newJWKSServer(t, jwksDoc(t, publicJWK(ek, "ec1", "")))
	ks, fc := remoteKeySet(t, srv, func(o *Options) { o.MaxStaleness = time.Minute })
	steps := []struct {
		name string
		do   func()
		want bool
	}{
		{name: "never fetched", do: func() {}, want: false},
		{name: "refetched for a kid", do: func() { ks.RefetchForKid(context.Background()) }, want: true},
		{name: "past maxStaleness", do: func() { fc.Step(2 * time.Minute) }, want: false},
	}
	for _, s := range steps {
		s.do()
		if got := ks.Loaded(); got != s.want {
			t.Fatalf("%s: got Loaded %v, want %v", s.name, got, s.want)
		}
	}
}
