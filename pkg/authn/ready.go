package authn

import (
	"fmt"
	"net/http"
	"time"

	"k8s.io/apiserver/pkg/server/healthz"

	"github.com/tokenfed/tokenfed/pkg/authn/keyset"
)

// keysReady is an issuer's readiness: ready once keys are loaded, with a
// detail that shows their age and whether they are stale.
type keysReady struct{ is *issuer }

var _ healthz.HealthChecker = keysReady{}

func (k keysReady) Name() string { return "issuer-" + k.is.name }

// Informational: an issuer without keys is reported, not gating; see
// server.Informational.
func (k keysReady) Informational() bool { return true }

func (k keysReady) Check(*http.Request) error {
	if st := k.is.keys.Status(); !st.Loaded {
		return fmt.Errorf("keys not loaded: %s", st.LastError)
	}
	return nil
}

// Detail is shown by /readyz?verbose; it never carries token data.
func (k keysReady) Detail() string {
	return describe(k.is.keys.Status())
}

// describe says why an issuer has no or stale keys, and which keys of its
// last document were dropped, so a misconfigured issuer is found from
// /readyz?verbose rather than from rejected tokens.
func describe(st keyset.Status) string {
	// Not loaded: the check's own error already says why.
	if !st.Loaded {
		return "no keys"
	}
	s := fmt.Sprintf("%d %s, %s old", st.KeyCount, plural(st.KeyCount, "key", "keys"), st.Age.Round(time.Second))
	if st.Stale {
		s += ", stale: last fetch failed: " + st.LastError
	}
	// A failed fetch's error already lists what it dropped.
	if !st.Stale && st.Dropped != "" {
		s += "; " + st.Dropped
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
