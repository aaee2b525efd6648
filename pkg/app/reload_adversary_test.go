package app

import (
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/staticissuer"
)

func newStaticIssuer(t *testing.T, name string) *staticissuer.Issuer {
	return staticissuer.NewT(t, name)
}

func mint(t *testing.T, is *staticissuer.Issuer) string {
	t.Helper()
	tok, err := is.Token(staticissuer.Claims{})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// anonymousConfig lets anonymous callers review tokens of every issuer.
func anonymousConfig(issuers ...v1alpha1.Issuer) v1alpha1.Configuration {
	return v1alpha1.Configuration{
		Issuers: issuers,
		Callers: v1alpha1.Callers{AllowAnonymous: true},
	}
}

// wantAnswer reviews token (as an anonymous caller) and checks the answer:
// user "" means not authenticated.
func wantAnswer(t *testing.T, a *App, token, user string) {
	t.Helper()
	code, st := a.review(t, token, nil)
	if code != http.StatusOK {
		t.Fatalf("review: HTTP %d", code)
	}
	switch {
	case user == "" && st.Authenticated:
		t.Errorf("authenticated as %q, want not authenticated", st.User.Username)
	case user != "" && (!st.Authenticated || st.User.Username != user):
		t.Errorf("got authenticated=%v user %q (%s), want %q", st.Authenticated, st.User.Username, st.Error, user)
	}
}

// A removed issuer's tokens are refused from the reload on, even those
// whose answer was cached a moment before.
func TestReloadRemovedIssuerTokensRefusedAtOnce(t *testing.T) {
	a1, b1 := newStaticIssuer(t, "alpha"), newStaticIssuer(t, "beta")
	cfg := anonymousConfig(a1.Config(), b1.Config())
	a := newTestApp(t, configYAML(t, cfg))
	tok := mint(t, a1)
	wantAnswer(t, a, tok, a1.Username("default", "default"))
	cfg.Issuers = cfg.Issuers[1:]
	a.reloadYAML(t, configYAML(t, cfg))
	wantAnswer(t, a, tok, "")
}

// Swapping two issuers' names (each name now on the other's URL and
// keys) answers each token under the name its URL now has: no answer
// cached under the old names survives.
func TestReloadSwappedIssuerNamesAnswerUnderNewNames(t *testing.T) {
	a1, b1 := newStaticIssuer(t, "alpha"), newStaticIssuer(t, "beta")
	cfg := anonymousConfig(a1.Config(), b1.Config())
	a := newTestApp(t, configYAML(t, cfg))
	tokA, tokB := mint(t, a1), mint(t, b1)
	wantAnswer(t, a, tokA, "alpha:system:serviceaccount:default:default")
	wantAnswer(t, a, tokB, "beta:system:serviceaccount:default:default")
	swapped := anonymousConfig(a1.Config(), b1.Config())
	swapped.Issuers[0].Name, swapped.Issuers[1].Name = "beta", "alpha"
	a.reloadYAML(t, configYAML(t, swapped))
	wantAnswer(t, a, tokA, "beta:system:serviceaccount:default:default")
	wantAnswer(t, a, tokB, "alpha:system:serviceaccount:default:default")
}

// deniedGroups, added by a reload, apply to a carried-over issuer's tokens
// at once, cached or not: the group is no longer answered.
func TestReloadDeniedGroupsApplyAtOnce(t *testing.T) {
	a1 := newStaticIssuer(t, "alpha")
	cfg := anonymousConfig(a1.Config())
	a := newTestApp(t, configYAML(t, cfg))
	tok := mint(t, a1)
	const group = "alpha:system:serviceaccounts:default"
	if _, st := a.review(t, tok, nil); !slices.Contains(st.User.Groups, group) {
		t.Fatalf("before the reload: groups %v, want %s among them", st.User.Groups, group)
	}
	cfg.DeniedGroups = []string{"system:serviceaccounts:default"}
	a.reloadYAML(t, configYAML(t, cfg))
	if _, st := a.review(t, tok, nil); !st.Authenticated || slices.Contains(st.User.Groups, group) {
		t.Errorf("after the reload: authenticated %v, groups %v; want %s denied", st.Authenticated, st.User.Groups, group)
	}
}

// A caller whose grant a reload removes is refused at once.
func TestReloadRemovedGrantRefusedAtOnce(t *testing.T) {
	a1, b1 := newStaticIssuer(t, "alpha"), newStaticIssuer(t, "beta")
	cfg := anonymousConfig(a1.Config(), b1.Config())
	cfg.Callers.Authorization.Static = []v1alpha1.CallerPolicy{{Name: "anyone", Groups: []string{"system:unauthenticated"}, Issuers: []string{"alpha", "beta"}}}
	a := newTestApp(t, configYAML(t, cfg))
	tok := mint(t, a1)
	wantAnswer(t, a, tok, a1.Username("default", "default"))
	cfg.Callers.Authorization.Static[0].Issuers = []string{"beta"}
	a.reloadYAML(t, configYAML(t, cfg))
	wantAnswer(t, a, tok, "")
}

// Many reloads, each changing an issuer, leave no goroutine behind and
// keep /metrics gatherable (one series per issuer name).
func TestManyReloadsLeakNothing(t *testing.T) {
	a1, b1 := newStaticIssuer(t, "alpha"), newStaticIssuer(t, "beta")
	cfg := anonymousConfig(a1.Config(), b1.Config())
	a := newTestApp(t, configYAML(t, cfg))
	tok := mint(t, a1)
	wantAnswer(t, a, tok, a1.Username("default", "default"))
	reload := func(i int) {
		cfg.Issuers[0].Audiences = []string{a1.URL, "aud-" + strings.Repeat("x", i%3+1)}
		cfg.Issuers[1].Name = []string{"beta", "gamma"}[i%2]
		a.reloadYAML(t, configYAML(t, cfg))
		wantAnswer(t, a, tok, a1.Username("default", "default"))
	}
	for i := range 5 {
		reload(i)
	}
	time.Sleep(100 * time.Millisecond)
	before := runtime.NumGoroutine()
	for i := range 100 {
		reload(i)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+5 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+5 {
		t.Errorf("%d goroutines after 100 reloads, %d before", n, before)
	}
	if w := a.get(t, "/metrics", nil); w.Code != http.StatusOK && w.Code != http.StatusForbidden {
		t.Errorf("/metrics: %d", w.Code)
	}
	if _, err := a.reg.Gather(); err != nil {
		t.Errorf("gather after reloads: %v", err)
	}
}
