package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/federation"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// reloadWorkers bound the load during the reload test: enough to have
// reviews in flight at every swap, few enough for a 2-core machine.
const reloadWorkers = 4

// TestHotReloadUnderLoad edits tokenfed's configuration file the way a
// ConfigMap update does (a new file renamed into place) while reviews of a
// real hub's tokens run without pause: an added issuer (a second real
// kube-apiserver) takes effect within seconds, a broken edit is refused
// while the last good configuration serves, and a removal takes effect.
// No review of the hub's tokens fails at any point.
func TestHotReloadUnderLoad(t *testing.T) {
	hub := controlplane.StartT(t, controlplane.Options{Name: "reload-hub"})
	added := controlplane.StartT(t, controlplane.Options{Name: "reload-added"})
	for _, cp := range []*controlplane.ControlPlane{hub, added} {
		if err := cp.AllowAnonymousIssuerDiscovery(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	p, err := tokenfedproc.Start(ctx(t), tokenfedproc.Options{
		Dir: t.TempDir(), Verbosity: new(2),
		Config: v1alpha1.Configuration{Issuers: []v1alpha1.Issuer{federation.HubIssuer("hub", hub)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("tokenfed log:\n%s", p.LogTail(40))
		}
		p.Stop()
	})
	client := tokenfedClient(t, p)
	hubToken := tokenOf(t, hub, "load")
	addedToken := tokenOf(t, added, "edge")

	load := startLoad(t, client, hubToken)

	// 1. Add an issuer.
	start := time.Now()
	editConfig(t, p, func(cfg *v1alpha1.Configuration) {
		cfg.Issuers = append(cfg.Issuers, federation.HubIssuer("added", added))
	})
	took := waitForAnswer(t, client, addedToken, "added:system:serviceaccount:default:edge", start)
	t.Logf("added issuer: first authenticated review %v after the file changed", took.Round(time.Millisecond))

	// 2. A broken edit: refused, both issuers keep working, and it shows.
	editConfig(t, p, func(cfg *v1alpha1.Configuration) {
		cfg.Issuers = append(cfg.Issuers, v1alpha1.Issuer{Name: "typo", Type: v1alpha1.IssuerTypeServiceAccount, URL: "not a url"})
	})
	waitFor(t, "the broken edit to be refused", func() bool {
		return strings.Contains(metric(t, p, "tokenfed_config_last_reload_successful"), "tokenfed_config_last_reload_successful 0")
	})
	if st := mustReview(t, client, addedToken, "added issuer after a refused edit"); !st.Authenticated {
		t.Errorf("after a refused edit the added issuer's token got %+v, want authenticated: the last good config must keep serving", st)
	}
	_, verbose, err := p.ReadyzVerbose()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(verbose, "[-]config not ready (does not gate readiness)") || !strings.Contains(verbose, "issuers[2].url") {
		t.Errorf("got /readyz?verbose\n%s\nwant the refused edit reported with its field path", verbose)
	}

	// 3. Remove the added issuer: its tokens are refused again.
	start = time.Now()
	editConfig(t, p, func(cfg *v1alpha1.Configuration) { cfg.Issuers = cfg.Issuers[:1] })
	waitFor(t, "the removed issuer's token to be refused", func() bool {
		st, err := reviewOnce(ctx(t), client, addedToken)
		return err == nil && !st.Authenticated
	})
	t.Logf("removed issuer: first refused review %v after the file changed", time.Since(start).Round(time.Millisecond))
	if m := metric(t, p, "tokenfed_config_last_reload_successful"); !strings.Contains(m, "tokenfed_config_last_reload_successful 1") {
		t.Errorf("got %q after a good edit, want the gauge back at 1", m)
	}

	// 4. Change the issuer under load: a new key set, loaded before the swap.
	start = time.Now()
	editConfig(t, p, func(cfg *v1alpha1.Configuration) { cfg.Issuers[0].Mapping.Prefix = new("hub-renamed:") })
	took = waitForAnswer(t, client, hubToken, "hub-renamed:system:serviceaccount:default:load", start)
	t.Logf("changed issuer: first answer under the new prefix %v after the file changed", took.Round(time.Millisecond))

	total, failed, firstErr := load.stop()
	t.Logf("under load: %d reviews of the hub's token during four edits, %d failed", total, failed)
	if total < 100 {
		t.Errorf("only %d reviews ran during the edits; the load did not overlap the reloads", total)
	}
	if failed != 0 {
		t.Errorf("%d of %d reviews failed during reloads, want 0; first: %v", failed, total, firstErr)
	}
}

func tokenOf(t *testing.T, cp *controlplane.ControlPlane, sa string) string {
	t.Helper()
	if _, err := cp.CreateServiceAccount(ctx(t), "default", sa); err != nil {
		t.Fatal(err)
	}
	token, err := cp.CreateToken(ctx(t), "default", sa, controlplane.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func editConfig(t *testing.T, p *tokenfedproc.Process, edit func(*v1alpha1.Configuration)) {
	t.Helper()
	if err := p.EditConfig(edit); err != nil {
		t.Fatal(err)
	}
}

// waitForAnswer reviews token until it authenticates as user, and returns
// the time since start.
func waitForAnswer(t *testing.T, c kubernetes.Interface, token, user string, start time.Time) time.Duration {
	t.Helper()
	waitFor(t, "token to authenticate as "+user, func() bool {
		st, err := reviewOnce(ctx(t), c, token)
		return err == nil && st.Authenticated && st.User.Username == user
	})
	return time.Since(start)
}

// waitFor polls cond for up to 30 s: the reload interval is 2 s, and a new
// issuer's first key fetch is bounded by 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// load reviews one token from reloadWorkers goroutines until stopped,
// counting the reviews that did not authenticate.
type load struct {
	cancel        context.CancelFunc
	wg            sync.WaitGroup
	total, failed atomic.Int64
	firstErr      atomic.Value
}

func startLoad(t *testing.T, c kubernetes.Interface, token string) *load {
	l := &load{}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx(t)))
	l.cancel = cancel
	for range reloadWorkers {
		l.wg.Go(func() {
			for ctx.Err() == nil {
				st, err := reviewOnce(ctx, c, token)
				if ctx.Err() != nil {
					return // cut short by stop, not by tokenfed
				}
				l.total.Add(1)
				if err == nil && !st.Authenticated {
					err = fmt.Errorf("not authenticated: %s", st.Error)
				}
				if err != nil {
					l.failed.Add(1)
					l.firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		})
	}
	t.Cleanup(func() { l.stop() })
	return l
}

func (l *load) stop() (total, failed int64, firstErr any) {
	l.cancel()
	l.wg.Wait()
	return l.total.Load(), l.failed.Load(), l.firstErr.Load()
}
