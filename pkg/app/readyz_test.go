package app

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/fakeapiserver"
	"github.com/tokenfed/tokenfed/pkg/testing/jwstest"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// /readyz?verbose is read by operators and by scripts that diff it, so
// every list it prints comes in a stable order, whatever order Go's maps
// iterate in:
//   - the checks: serving certificate, configuration, then issuers by
//     name, each issuer's revocation watch right after it, the issuer-keys
//     gate last;
//   - the issuers whose keys never loaded, in issuer-keys, by name;
//   - the dropped keys of an issuer's document, in document order;
//   - a revocation watch's resources: serviceaccounts, pods, nodes;
//   - a refused configuration file's errors, in field order.
//
// The issuers are configured out of name order; each of several reads
// must show every list in order (three issuers in map order would come
// sorted one read in six).
func TestReadyzVerboseListsInStableOrder(t *testing.T) {
	s := serveApp(t, readyzConfig(t), true)
	refused := configYAML(t, withTwoErrors(s.cfg))
	if err := os.WriteFile(s.reloadPath, []byte(refused), 0o600); err != nil {
		t.Fatal(err)
	}
	operator := s.client(t, "operator", nil)
	body := waitReadyz(t, operator, s.url, "the file was refused")

	const reads = 12
	for i := range reads {
		if i > 0 {
			var code int
			code, _, body = do(t, operator, http.MethodGet, s.url+"/readyz?verbose", "", "")
			if code != http.StatusServiceUnavailable {
				t.Fatalf("read %d: got HTTP %d, want 503 (issuers mid and zeta never load keys):\n%s", i, code, body)
			}
		}
		if wantReadyzOrder(t, body); t.Failed() {
			t.Fatalf("on read %d of %d:\n%s", i+1, reads, body)
		}
	}
}

// wantReadyzOrder checks every list of one /readyz?verbose body.
func wantReadyzOrder(t *testing.T, body string) {
	t.Helper()
	wantChecks := []string{"serving-certificate", "config", "issuer-alpha", "issuer-mid", "revocation-mid", "issuer-zeta", "issuer-keys"}
	if got := checkNames(body); !slices.Equal(got, wantChecks) {
		t.Fatalf("got checks %q, want %q:\n%s", got, wantChecks, body)
	}
	line := func(name string) string { return lineOf(body, name) }
	for _, tc := range []struct {
		name  string
		line  string
		parts []string
	}{
		{name: "the issuers whose keys never loaded", line: line("issuer-keys"), parts: []string{"keys never loaded: mid, zeta"}},
		{name: "alpha's dropped keys", line: line("issuer-alpha"), parts: []string{`2 keys dropped: kid "k-enc"`, `kid "k-hs"`}},
		{name: "mid's watched resources, in the error and the detail", line: line("revocation-mid"), parts: []string{": serviceaccounts of mid", "; pods of mid", "; nodes of mid", " (serviceaccounts ", ", pods ", ", nodes "}},
		{name: "the refused file's errors", line: line("config"), parts: []string{"the file was refused: [issuers[0].name", "issuers[2].url: Invalid value", "]"}},
	} {
		if !inOrder(tc.line, tc.parts) {
			t.Errorf("%s: got %q, want %q in this order", tc.name, tc.line, tc.parts)
		}
	}
}

// readyzConfig: three issuers out of name order. zeta and mid fetch keys
// from a port nothing listens on; mid also watches its cluster (a fake
// that answers no list or watch); alpha's inline document has two keys
// it drops before the one it keeps. Readiness waits for all of them, so
// issuer-keys lists the two that never load.
func readyzConfig(t *testing.T) v1alpha1.Configuration {
	port, err := tokenfedproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	nowhere := fmt.Sprintf("https://127.0.0.1:%d/jwks", port)
	key := jwstest.ECKey(0)
	enc, hs := jwstest.PublicJWK(key, "k-enc", jose.ES256), jwstest.PublicJWK(key, "k-hs", jose.HS256)
	enc.Use = "enc"
	alpha := jwstest.JWKS(enc, hs, jwstest.PublicJWK(key, "k-good", jose.ES256))
	cluster := fakeapiserver.Start(t, fakeapiserver.Text(http.StatusNotFound, ""))
	cfg := httpTestConfig(newStaticIssuer(t, "hub"))
	cfg.Issuers = []v1alpha1.Issuer{
		{Name: "zeta", Type: v1alpha1.IssuerTypeServiceAccount, URL: "https://zeta.issuer.test", JWKSURL: nowhere},
		{Name: "alpha", Type: v1alpha1.IssuerTypeServiceAccount, URL: "https://alpha.issuer.test", StaticKeys: &v1alpha1.StaticKeys{JWKS: alpha}},
		{
			Name: "mid", Type: v1alpha1.IssuerTypeServiceAccount, URL: "https://mid.issuer.test", JWKSURL: nowhere,
			Upstream:   &v1alpha1.Upstream{Kubeconfig: cluster.Kubeconfig(t), Policy: v1alpha1.UpstreamOnFailure},
			Revocation: &v1alpha1.Revocation{Mode: v1alpha1.RevocationWatch},
		},
	}
	cfg.Callers.Authorization.Static[0].Issuers = []string{v1alpha1.AllIssuers}
	cfg.Readiness.Issuers = v1alpha1.IssuerReadinessAll
	return cfg
}

// withTwoErrors is cfg with an invalid name on the first issuer and an
// invalid URL on the third.
func withTwoErrors(cfg v1alpha1.Configuration) v1alpha1.Configuration {
	cfg.Issuers = slices.Clone(cfg.Issuers)
	cfg.Issuers[0].Name = "Not_A_Name"
	cfg.Issuers[2].URL = "http://mid.issuer.test"
	return cfg
}

// waitReadyz reads /readyz?verbose until it holds want; the deadline only
// guards against a hung test.
func waitReadyz(t *testing.T, c *http.Client, url, want string) string {
	t.Helper()
	var body string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, _, body = do(t, c, http.MethodGet, url+"/readyz?verbose", "", ""); strings.Contains(body, want) {
			return body
		}
	}
	t.Fatalf("/readyz?verbose never said %q within 10s:\n%s", want, body)
	return ""
}

var checkLine = regexp.MustCompile(`(?m)^\[[+-]\]([^ ]+) `)

// checkNames are the names of the check lines of a verbose body, in order.
func checkNames(body string) []string {
	var names []string
	for _, m := range checkLine.FindAllStringSubmatch(body, -1) {
		names = append(names, m[1])
	}
	return names
}

// lineOf is the line of check name.
func lineOf(body, name string) string {
	for l := range strings.Lines(body) {
		if m := checkLine.FindStringSubmatch(l); m != nil && m[1] == name {
			return l
		}
	}
	return ""
}

// inOrder reports whether s holds every part, each after the one before.
func inOrder(s string, parts []string) bool {
	for _, p := range parts {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return true
}
