package authn

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tokenfed/tokenfed/pkg/authn/keyset"
)

var describeCases = []struct {
	name string
	st   keyset.Status
	want string
}{
	{name: "never loaded", st: keyset.Status{LastError: "dial tcp: refused"}, want: "no keys"},
	{name: "before the first fetch", st: keyset.Status{}, want: "no keys"},
	{
		name: "loaded, some keys of the document dropped",
		st:   keyset.Status{Loaded: true, KeyCount: 1, Age: time.Second, Dropped: `1 key dropped: kid "a": alg "HS256" not allowed`},
		want: `1 key, 1s old; 1 key dropped: kid "a": alg "HS256" not allowed`,
	},
	{
		name: "no usable keys in the first document",
		st:   keyset.Status{LastError: `jwks https://i/jwks: no usable keys: 1 key dropped: kid "a": RSA key smaller than 2048 bits`, Dropped: `1 key dropped: kid "a": RSA key smaller than 2048 bits`},
		want: "no keys",
	},
	{name: "fresh", st: keyset.Status{Loaded: true, KeyCount: 2, Age: 1500 * time.Millisecond}, want: "2 keys, 2s old"},
	{
		name: "stale",
		st:   keyset.Status{Loaded: true, KeyCount: 1, Age: time.Hour, Stale: true, LastError: "HTTP 503"},
		want: "1 key, 1h0m0s old, stale: last fetch failed: HTTP 503",
	},
}

func TestDescribe(t *testing.T) {
	for _, tc := range describeCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := describe(tc.st); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReadyChecks(t *testing.T) {
	jwks := newJWKSServer(t)
	for _, tc := range []struct {
		name       string
		remote     bool
		wantErr    string
		wantDetail string
	}{
		{name: "inline keys are ready at once", wantDetail: "1 key, 0s old"},
		{name: "remote keys before the first fetch", remote: true, wantErr: "keys not loaded", wantDetail: "no keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := hubConfig(t, nil, "")
			if tc.remote {
				cfg.Issuers[0].StaticKeys, cfg.Issuers[0].JWKSURL = nil, jwks.URL
			}
			c := newChain(t, cfg)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if !tc.remote {
				c.Run(ctx) // inline keys: Run only waits for ctx
			}

			checks := c.ReadyChecks()
			if len(checks) != 1 || checks[0].Name() != "issuer-hub" {
				t.Fatalf("got %d checks (%v), want one named issuer-hub", len(checks), checks)
			}
			if inf, ok := checks[0].(interface{ Informational() bool }); !ok || !inf.Informational() {
				t.Errorf("got a gating check, want an informational one: one issuer must not take tokenfed out of service")
			}
			err := checks[0].Check(nil)
			if gotErr := errString(err); !strings.HasPrefix(gotErr, tc.wantErr) || (err == nil) != (tc.wantErr == "") {
				t.Errorf("got Check error %q, want prefix %q", gotErr, tc.wantErr)
			}
			if got := checks[0].(keysReady).Detail(); got != tc.wantDetail {
				t.Errorf("got detail %q, want %q", got, tc.wantDetail)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
