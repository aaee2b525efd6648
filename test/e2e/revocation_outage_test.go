package e2e

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn/revocation"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// auditPolicy records who lists and watches, and nothing else.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  verbs: ["list", "watch"]
- level: None
`

// outageBound is maxWatchOutage in TestRevocationWatchOutage. A restart
// of the hub's kube-apiserver here is about 10 s of graceful shutdown,
// during which it keeps its watches open, then 1 to 4 s without a server:
// the bound must be shorter than that for the restart to be an outage the
// fallback covers.
const outageBound = 500 * time.Millisecond

// TestRevocationWatchOutage restarts the hub's kube-apiserver under two
// tokenfeds that watch it, one falling back to the upstream and one
// rejecting. Once the watch has been broken for maxWatchOutage, a token
// the watch vouched for is no longer served from it, cached or not: the
// one sends it upstream (seen in its upstream review count; the hub
// answers with a 503 while down, or itself once it listens again), the
// other rejects it. After the restart both resync and accept
// it again, and each re-lists every resource at most twice (counted in the
// hub's audit log, by tokenfed's own ServiceAccount): no stampede.
func TestRevocationWatchOutage(t *testing.T) {
	dir := t.TempDir()
	policy, auditLog := filepath.Join(dir, "audit-policy.yaml"), filepath.Join(dir, "audit.log")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	hub := controlplane.StartT(t, controlplane.Options{Name: "hub", Dir: filepath.Join(dir, "hub"),
		ExtraArgs: []string{"--audit-policy-file=" + policy, "--audit-log-path=" + auditLog}})
	if err := hub.AllowAnonymousIssuerDiscovery(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := hub.CreateNamespace(ctx(t), revNS); err != nil {
		t.Fatal(err)
	}
	mustCreateSA(t, hub, "app")
	token := mintToken(t, hub, revNS, "app")
	minted := time.Now()

	fallbacks := []v1alpha1.RevocationFallback{v1alpha1.RevocationFallbackUpstream, v1alpha1.RevocationFallbackReject}
	procs := map[v1alpha1.RevocationFallback]*tokenfedproc.Process{}
	for _, fb := range fallbacks {
		name := "tf-" + string(fb)
		kubeconfig := watcherKubeconfig(t, hub, name, false)
		procs[fb] = startUpstreamTokenfed(t, name, v1alpha1.Configuration{
			Cache: v1alpha1.Cache{FailureTTL: metav1.Duration{Duration: time.Millisecond}},
			Issuers: []v1alpha1.Issuer{watchIssuer(hub, kubeconfig, v1alpha1.Revocation{
				NotSynced: fb, MaxWatchOutage: metav1.Duration{Duration: outageBound},
			})},
		})
		waitRevocationSynced(t, procs[fb], "hub", 30*time.Second)
	}
	time.Sleep(time.Until(minted.Add(revocation.FreshToken)))
	for _, fb := range fallbacks {
		wantAuthenticated(t, tokenfedClient(t, procs[fb]), token, string(fb)+", before the restart")
	}
	upstreamBefore := metricSum(t, procs[v1alpha1.RevocationFallbackUpstream], `tokenfed_upstream_reviews_total{issuer="hub"`)

	restarted := time.Now()
	done := make(chan error, 1)
	go func() { done <- hub.Restart(ctx(t), nil) }()
	// Until the hub is back: when did each tokenfed stop vouching?
	// The reflectors reconnect a moment after the hub is back, so polling
	// goes on briefly after Restart returns.
	fellBack := map[v1alpha1.RevocationFallback]time.Duration{}
	var readyz string
	var hubBack time.Duration
	for hubBack == 0 || (len(fellBack) < len(fallbacks) && time.Since(restarted) < hubBack+2*time.Second) {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			hubBack = time.Since(restarted)
		case <-time.After(50 * time.Millisecond):
		}
		for _, fb := range fallbacks {
			if _, ok := fellBack[fb]; ok {
				continue
			}
			st, err := reviewOnce(ctx(t), tokenfedClient(t, procs[fb]), token)
			switch fb {
			case v1alpha1.RevocationFallbackReject:
				if err == nil && st.Authenticated {
					continue
				}
				if err != nil || !strings.Contains(st.Error, "cannot tell whether the token was revoked") {
					t.Errorf("reject: got %v, status %+v; want a rejection for an unknown revocation state", err, st)
				}
				readyz = get(t, procs[fb].Client(), procs[fb].URL+"/readyz?verbose")
			case v1alpha1.RevocationFallbackUpstream:
				// The hub answers once it listens, before it is ready: its
				// answer or a 503, never a rejection of its own.
				if err == nil && !st.Authenticated {
					t.Errorf("upstream: got %+v, want the hub's answer or a 503", st)
				}
				if metricSum(t, procs[fb], `tokenfed_upstream_reviews_total{issuer="hub"`) == upstreamBefore {
					continue
				}
			}
			fellBack[fb] = time.Since(restarted)
		}
	}
	t.Logf("hub back after %s; watch no longer vouched after %v; readyz meanwhile:\n%s", hubBack.Round(time.Millisecond), fellBack, readyz)
	for _, fb := range fallbacks {
		if _, ok := fellBack[fb]; !ok {
			t.Fatalf("%s: the token was accepted throughout a %s outage, want the fallback after %s", fb, hubBack, outageBound)
		}
	}
	if !strings.Contains(readyz, "[-]revocation-hub not ready (does not gate readiness): watch of serviceaccounts of hub broken for") {
		t.Errorf("readyz during the outage does not report the broken watch:\n%s", readyz)
	}

	for _, fb := range fallbacks {
		waitRevocationSynced(t, procs[fb], "hub", time.Minute)
		wantAuthenticated(t, tokenfedClient(t, procs[fb]), token, string(fb)+", after the restart")
		t.Logf("%s: vouching again %s after the restart began", fb, time.Since(restarted).Round(time.Millisecond))
	}
	for _, fb := range fallbacks {
		user := "system:serviceaccount:kube-system:tf-" + string(fb)
		lists := relists(t, auditLog, user, restarted)
		t.Logf("%s: full lists after the restart, by resource: %v", fb, lists)
		for _, res := range []string{"serviceaccounts", "pods", "nodes"} {
			if lists[res] > 2 {
				t.Errorf("%s re-listed %s %d times after the restart, want at most 2", fb, res, lists[res])
			}
		}
	}
}

// relists counts, by resource, the requests of user received after since
// that fetch a resource's whole state: a list, or a watch that sends its
// initial events (client-go's streaming list).
func relists(t *testing.T, auditLog, user string, since time.Time) map[string]int {
	t.Helper()
	seen := map[string]bool{}
	out := map[string]int{}
	for _, line := range strings.Split(readFile(t, auditLog), "\n") {
		if line == "" {
			continue
		}
		var ev struct {
			AuditID    string `json:"auditID"`
			Verb       string `json:"verb"`
			RequestURI string `json:"requestURI"`
			User       struct {
				Username string `json:"username"`
			} `json:"user"`
			ObjectRef struct {
				Resource string `json:"resource"`
			} `json:"objectRef"`
			Received metav1.MicroTime `json:"requestReceivedTimestamp"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("audit log line %q: %v", line, err)
		}
		if ev.User.Username != user || seen[ev.AuditID] || ev.Received.Time.Before(since) {
			continue
		}
		seen[ev.AuditID] = true
		u, err := url.Parse(ev.RequestURI)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Verb == "list" || (ev.Verb == "watch" && u.Query().Get("sendInitialEvents") == "true") {
			out[ev.ObjectRef.Resource]++
		}
	}
	return out
}
