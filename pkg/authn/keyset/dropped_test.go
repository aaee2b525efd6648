package keyset

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// noUsableKeySteps are successive answers of one issuer to background
// refreshes. Bodies use jwkParts placeholders; <URL> is the JWKS URL.
var noUsableKeySteps = []struct {
	name        string
	status      int
	body        string
	wantErr     string
	wantKids    []string
	wantDropped string
	wantMetrics []string
}{
	{
		name:        "all keys dropped: the last good keys stay",
		body:        `{"keys":[{<RSA>,"kid":"a","alg":"HS256"},{<RSA1024>,"kid":"b"}]}`,
		wantErr:     `jwks <URL>: no usable keys: 2 keys dropped: kid "a": alg "HS256" not allowed; kid "b": RSA key smaller than 2048 bits`,
		wantKids:    []string{"ec1"},
		wantDropped: `2 keys dropped: kid "a": alg "HS256" not allowed; kid "b": RSA key smaller than 2048 bits`,
		wantMetrics: []string{
			`tokenfed_keyset_dropped_keys{issuer="hub",reason="alg_not_allowed"} 1`,
			`tokenfed_keyset_dropped_keys{issuer="hub",reason="weak_key"} 1`,
			`tokenfed_keyset_fetches_total{issuer="hub",result="error"} 1`,
			`tokenfed_keyset_fetches_total{issuer="hub",result="success"} 1`,
			`tokenfed_keyset_stale{issuer="hub"} 1`,
		},
	},
	{
		name:        "some keys dropped: the rest is loaded",
		body:        `{"keys":[{<RSA>,"kid":"a","alg":"HS256"},{<EC256>,"kid":"ec2"}]}`,
		wantKids:    []string{"ec2"},
		wantDropped: `1 key dropped: kid "a": alg "HS256" not allowed`,
		wantMetrics: []string{
			`tokenfed_keyset_dropped_keys{issuer="hub",reason="alg_not_allowed"} 1`,
			`tokenfed_keyset_fetches_total{issuer="hub",result="error"} 1`,
			`tokenfed_keyset_fetches_total{issuer="hub",result="success"} 2`,
			`tokenfed_keyset_stale{issuer="hub"} 0`,
		},
	},
	{
		name:        "an outage keeps the drops of the last document read",
		status:      http.StatusServiceUnavailable,
		wantErr:     `get <URL>: status 503`,
		wantKids:    []string{"ec2"},
		wantDropped: `1 key dropped: kid "a": alg "HS256" not allowed`,
		wantMetrics: []string{
			`tokenfed_keyset_dropped_keys{issuer="hub",reason="alg_not_allowed"} 1`,
			`tokenfed_keyset_fetches_total{issuer="hub",result="error"} 2`,
			`tokenfed_keyset_fetches_total{issuer="hub",result="success"} 2`,
			`tokenfed_keyset_stale{issuer="hub"} 1`,
		},
	},
	{
		name:     "a clean document clears them",
		body:     `{"keys":[{<EC256>,"kid":"ec2"}]}`,
		wantKids: []string{"ec2"},
		wantMetrics: []string{
			`tokenfed_keyset_fetches_total{issuer="hub",result="error"} 2`,
			`tokenfed_keyset_fetches_total{issuer="hub",result="success"} 3`,
			`tokenfed_keyset_stale{issuer="hub"} 0`,
		},
	},
}

// TestNoUsableKeysIsAFailedFetch: a document whose keys are all dropped
// fails like an outage, and readiness and metrics say why.
func TestNoUsableKeysIsAFailedFetch(t *testing.T) {
	parts := newJWKParts(t)
	srv := newJWKSServer(t, []byte(parts.fill(t, `{"keys":[{<EC256>,"kid":"ec1"}]}`)))
	m := NewMetrics()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	ks, fc := remoteKeySet(t, srv, func(o *Options) {
		o.IssuerName = "hub"
		o.Metrics = m
	})
	refreshed := runKeySet(t, ks)
	if err := next(t, refreshed); err != nil {
		t.Fatalf("initial load: got error %v, want nil", err)
	}
	for _, step := range noUsableKeySteps {
		status := step.status
		if status == 0 {
			status = http.StatusOK
		}
		srv.set(status, []byte(parts.fill(t, step.body)), "")
		fc.Step(DefaultMinRefresh)
		err := next(t, refreshed)
		wantErr := strings.ReplaceAll(step.wantErr, "<URL>", srv.URL+"/jwks")
		if got := errString(err); got != wantErr {
			t.Fatalf("%s: got error %q, want %q", step.name, got, wantErr)
		}
		checkServed(t, step.name, ks, parts, step.wantKids)
		st := ks.Status()
		if st.LastError != wantErr || st.Dropped != step.wantDropped || !st.Loaded {
			t.Fatalf("%s: got %+v, want loaded, LastError %q, Dropped %q", step.name, st, wantErr, step.wantDropped)
		}
		if got := gatherExcept(t, reg, "tokenfed_keyset_age_seconds"); strings.Join(got, "\n") != strings.Join(step.wantMetrics, "\n") {
			t.Fatalf("%s: got metrics\n%s\nwant\n%s", step.name, strings.Join(got, "\n"), strings.Join(step.wantMetrics, "\n"))
		}
	}
}

// checkServed: exactly the kids in want are served, and ec1/ec2 verify
// with the EC256 key.
func checkServed(t *testing.T, step string, ks *KeySet, parts *jwkParts, want []string) {
	t.Helper()
	for _, kid := range []string{"a", "b", "ec1", "ec2"} {
		if got := ks.HasKid(kid); got != slices.Contains(want, kid) {
			t.Fatalf("%s: got HasKid(%s) %v, want %v", step, kid, got, !got)
		}
	}
	for _, kid := range want {
		tok := sign(t, parts.signers["EC256"], "ES256", kid, payload, nil)
		if _, err := ks.VerifySignature(context.Background(), tok); err != nil {
			t.Fatalf("%s: kid %s: got error %v, want nil", step, kid, err)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func gatherExcept(t *testing.T, reg *prometheus.Registry, prefix string) []string {
	t.Helper()
	var out []string
	for _, line := range gather(t, reg) {
		if !strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return out
}

// TestDroppedSummaryBounded: however many keys a document drops and however
// long their kids, the error stays short and names the first few.
func TestDroppedSummaryBounded(t *testing.T) {
	parts := newJWKParts(t)
	var keys []string
	for i := range 50 {
		keys = append(keys, fmt.Sprintf(`{<RSA>,"use":"enc","kid":"%03d%s"}`, i, strings.Repeat("k", 1000)))
	}
	doc := parts.fill(t, `{"keys":[`+strings.Join(keys, ",")+`]}`)
	_, err := New(Options{IssuerName: "test", StaticJWKS: []byte(doc)})
	if !errors.Is(err, errNoUsableKeys) {
		t.Fatalf("got error %v, want %v", err, errNoUsableKeys)
	}
	const maxLen = 512
	if got := err.Error(); len(got) > maxLen || !strings.Contains(got, "no usable keys: 50 keys dropped: kid \"000kkk") || !strings.HasSuffix(got, "; and 45 more") {
		t.Fatalf("got error of %d bytes %q, want at most %d naming 5 keys and 45 more", len(got), got, maxLen)
	}
}
