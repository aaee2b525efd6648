package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	authv1 "k8s.io/api/authentication/v1"

	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/federation"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// startFederationOnHub starts tokenfed and a member on an existing hub,
// and stops only those two when t ends: the hub belongs to the caller, so
// several federations (one per subtest) can share it.
func startFederationOnHub(t *testing.T, hub *controlplane.ControlPlane, opts federation.Options) *federation.Federation {
	t.Helper()
	opts.Hub, opts.Dir, opts.Progress = hub, t.TempDir(), testWriter{t}
	f, err := federation.Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("starting tokenfed and the member: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("tokenfed log:\n%s", f.Tokenfed.LogTail(40))
		}
		f.Member.Stop()
		f.Tokenfed.Stop()
	})
	return f
}

// webhookTo is the member's webhook configuration for tokenfed process p,
// in kube-apiserver's default version, as the federation sets it up.
func webhookTo(p *tokenfedproc.Process) *controlplane.WebhookOptions {
	return &controlplane.WebhookOptions{
		URL:    p.URL + "/authenticate",
		CAFile: p.Certs.CACert, ClientCertFile: p.Certs.ClientCert, ClientKeyFile: p.Certs.ClientKey,
	}
}

// whoami runs `kubectl auth whoami` on cp as token and returns the user
// the apiserver saw. err is kubectl's, stderr its message.
func whoami(t *testing.T, cp *controlplane.ControlPlane, token string) (user authv1.UserInfo, stderr string, err error) {
	t.Helper()
	out, stderr, err := cp.KubectlAs(ctx(t), token, "auth", "whoami", "-o", "json")
	if err != nil {
		return authv1.UserInfo{}, stderr, err
	}
	var review authv1.SelfSubjectReview
	if err := json.Unmarshal([]byte(out), &review); err != nil {
		t.Fatalf("kubectl auth whoami -o json on %s: %v\n%s", cp.Name, err, out)
	}
	return review.Status.UserInfo, stderr, nil
}

// wantLogin fails unless token logs in to cp as username, and returns the
// user for further checks.
func wantLogin(t *testing.T, cp *controlplane.ControlPlane, token, username, what string) authv1.UserInfo {
	t.Helper()
	user, stderr, err := whoami(t, cp, token)
	if err != nil || user.Username != username {
		t.Fatalf("%s: whoami on %s: got user %q, err %v, stderr %q; want %q", what, cp.Name, user.Username, err, stderr, username)
	}
	return user
}

// wantUnauthorized fails unless cp answers token with 401 Unauthorized.
func wantUnauthorized(t *testing.T, cp *controlplane.ControlPlane, token, what string) {
	t.Helper()
	user, stderr, err := whoami(t, cp, token)
	if err == nil || !strings.Contains(stderr, "Unauthorized") {
		t.Fatalf("%s: whoami on %s: got user %q, err %v, stderr %q; want Unauthorized", what, cp.Name, user.Username, err, stderr)
	}
}

// counting returns how much the /metrics series of p grew while do ran.
// tokenfed's authentication counters count uncached decisions, so a
// review that reached tokenfed and was decided there adds exactly one.
func counting(t *testing.T, p *tokenfedproc.Process, series []string, do func()) map[string]float64 {
	t.Helper()
	before := map[string]float64{}
	for _, s := range series {
		before[s] = metricValue(t, p, s)
	}
	do()
	delta := map[string]float64{}
	for _, s := range series {
		delta[s] = metricValue(t, p, s) - before[s]
	}
	return delta
}

// wantDelta fails unless the series grew by want.
func wantDelta(t *testing.T, delta map[string]float64, series string, want float64, what string) {
	t.Helper()
	if got := delta[series]; got != want {
		t.Fatalf("%s: %s grew by %v, want %v", what, series, got, want)
	}
}
