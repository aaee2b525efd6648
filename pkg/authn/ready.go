package authn

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"k8s.io/apiserver/pkg/server/healthz"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn/keyset"
	"github.com/tokenfed/tokenfed/pkg/authn/revocation"
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

// ReadyChecks report, per issuer in name order, whether its keys are
// loaded and whether its revocation watch decides tokens; they never gate. With readiness.issuers any or all, one more
// check, issuer-keys, gates on the issuers tokenfed started with.
func (c *Chain) ReadyChecks() []healthz.HealthChecker {
	var checks []healthz.HealthChecker
	var gating []*issuer
	for _, name := range slices.Sorted(maps.Keys(c.issuers)) {
		is := c.issuers[name]
		checks = append(checks, keysReady{is})
		if is.revocation != nil {
			checks = append(checks, revocationReady{is.revocation})
		}
		if is.gates {
			gating = append(gating, is)
		}
	}
	if c.readiness == v1alpha1.IssuerReadinessAny || c.readiness == v1alpha1.IssuerReadinessAll {
		checks = append(checks, issuersGate{mode: c.readiness, issuers: gating})
	}
	return checks
}

// issuersGate is readiness.issuers any or all: it passes once any or all of
// the gating issuers have loaded keys at least once. Loaded once is enough:
// stale keys still verify, and a pod must not leave its Service because an
// issuer it already knows went down.
type issuersGate struct {
	mode    v1alpha1.IssuerReadiness
	issuers []*issuer
}

var _ healthz.HealthChecker = issuersGate{}

func (g issuersGate) Name() string { return "issuer-keys" }

func (g issuersGate) Check(*http.Request) error {
	var missing []string
	for _, is := range g.issuers {
		if !is.keys.EverLoaded() {
			missing = append(missing, is.name)
		}
	}
	switch {
	case len(missing) == 0:
		return nil
	case g.mode == v1alpha1.IssuerReadinessAny && len(missing) < len(g.issuers):
		return nil
	}
	return errors.New("readiness.issuers is " + string(g.mode) + "; keys never loaded: " + strings.Join(missing, ", "))
}

// Detail is shown by /readyz?verbose.
func (g issuersGate) Detail() string {
	return fmt.Sprintf("readiness.issuers %s, over the %d %s configured at start", g.mode, len(g.issuers), plural(len(g.issuers), "issuer", "issuers"))
}

// revocationReady is an issuer's revocation watch: ok while every watched
// resource decides tokens, with the objects held and each watch's state.
// It never gates: tokens then go to the configured fallback.
type revocationReady struct{ w *revocation.Watcher }

var _ healthz.HealthChecker = revocationReady{}

func (r revocationReady) Name() string { return "revocation-" + r.w.Name() }

func (r revocationReady) Informational() bool { return true }

func (r revocationReady) Check(*http.Request) error {
	var msgs []string
	for _, st := range r.w.Status() {
		if st.Err != nil {
			msgs = append(msgs, st.Err.Error())
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return errors.New(strings.Join(msgs, "; "))
}

// Detail lists, per resource, the objects held and how long its watch has
// been up or broken, e.g. "serviceaccounts 12 (watch up 5m0s), pods 40
// (watch up 5m0s), nodes 3 (watch broken 4s)".
func (r revocationReady) Detail() string {
	var parts []string
	for _, st := range r.w.Status() {
		state := "up"
		if !st.Up {
			state = "broken"
		}
		parts = append(parts, fmt.Sprintf("%s %d (watch %s %s)", st.Resource, st.Objects, state, st.For.Round(time.Second)))
	}
	return strings.Join(parts, ", ")
}
