package security

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokenfed/tokenfed/pkg/testing/jwstest"
)

// docServer serves an issuer's discovery document and JWKS as the test sets
// them, with the same test certificate as fakeIssuer, so its CA file trusts
// both. The edge issuer is configured with discoveryURL pointing here.
type docServer struct {
	*httptest.Server
	mu        sync.Mutex
	discovery []byte
	jwks      []byte
}

func newDocServer(t *testing.T) *docServer {
	t.Helper()
	d := &docServer{}
	d.Server = httptest.NewTLSServer(http.HandlerFunc(d.serve))
	t.Cleanup(d.Close)
	return d
}

func (d *docServer) serve(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case discoveryPath:
		_, _ = w.Write(d.discovery)
	case jwksPath:
		_, _ = w.Write(d.jwks)
	default:
		http.NotFound(w, r)
	}
}

// set replaces both documents; issuer names the issuer in discovery.
func (d *docServer) set(issuer string, keys ...jose.JSONWebKey) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.discovery = mustJSON(map[string]any{"issuer": issuer, "jwks_uri": d.URL + jwksPath})
	d.jwks = mustJSON(jose.JSONWebKeySet{Keys: keys})
}

// goodKeys are the fake issuer's two signing keys.
func goodKeys() []jose.JSONWebKey {
	return []jose.JSONWebKey{jwstest.PublicJWK(rsaKey(), rsaKid, jose.RS256), jwstest.PublicJWK(ecKey(), ecKid, jose.ES256)}
}

// documentSteps change what the issuer serves, in order, on one running
// tokenfed. Each must fail the fetch with wantCause in the readiness detail,
// leave es256/rs256 tokens accepted or refused as listed, and set the
// dropped-keys metric as listed.
var documentSteps = []struct {
	name string
	// wrongIssuer makes discovery name another issuer.
	wrongIssuer bool
	keys        func() []jose.JSONWebKey
	wantCause   string
	accepted    []signer
	refused     []signer
	wantDropped map[string]float64
}{
	{
		name:        "discovery names another issuer",
		wrongIssuer: true,
		keys:        goodKeys,
		wantCause:   `issuer "https://evil.example" does not match the configured issuer "<ISSUER>"`,
		accepted:    []signer{rs256, es256},
	},
	{
		name: "every key dropped",
		keys: func() []jose.JSONWebKey {
			return []jose.JSONWebKey{
				{Key: rsaKey().Public(), KeyID: rsaKid, Algorithm: string(jose.HS256)},
				{Key: ecKey().Public(), KeyID: ecKid, Use: "enc"},
			}
		},
		wantCause:   `no usable keys: 2 keys dropped: kid "rsa-1": alg "HS256" not allowed; kid "ec-1": use "enc" is not sig`,
		accepted:    []signer{rs256, es256},
		wantDropped: map[string]float64{"alg_not_allowed": 1, "use": 1},
	},
	{
		name: "the EC private key published",
		keys: func() []jose.JSONWebKey {
			return []jose.JSONWebKey{
				{Key: rsaKey().Public(), KeyID: rsaKid, Algorithm: string(jose.HS256)},
				{Key: ecKey(), KeyID: ecKid},
			}
		},
		wantCause:   `no usable keys: 2 keys dropped: kid "rsa-1": alg "HS256" not allowed; kid "ec-1": publishes private key material ("d")`,
		accepted:    []signer{rs256},
		refused:     []signer{es256},
		wantDropped: map[string]float64{"alg_not_allowed": 1, "private": 1},
	},
}

// TestIssuerDocuments: over HTTP, documents that do not say what the config
// says are a failed fetch. The last good keys keep serving (minus any whose
// private half was published), /readyz?verbose says why, and the metrics
// count the dropped keys by reason.
func TestIssuerDocuments(t *testing.T) {
	iss := newFakeIssuer(t)
	docs := newDocServer(t)
	docs.set(iss.URL(), goodKeys()...)
	cfg := edgeConfig(iss, outageFetch)
	cfg.Issuers[0].DiscoveryURL = docs.URL + discoveryPath
	tf := startTokenfed(t, cfg)
	for _, s := range []signer{rs256, es256} {
		tok, jti := iss.token(t, s)
		assertAccepted(t, tf.review(t, tok), jti, []string{iss.URL()})
	}
	for _, step := range documentSteps {
		issuer := iss.URL()
		if step.wrongIssuer {
			issuer = "https://evil.example"
		}
		docs.set(issuer, step.keys()...)
		cause := strings.ReplaceAll(step.wantCause, "<ISSUER>", iss.URL())
		line := waitForCause(t, tf, cause)
		if d := base64.RawURLEncoding.EncodeToString(ecKey().D.FillBytes(make([]byte, 32))); strings.Contains(line, d) {
			t.Fatalf("%s: got readiness %q, want no key material", step.name, line)
		}
		checkTokens(t, tf, iss, step.name, step.accepted, step.refused)
		for reason, want := range step.wantDropped {
			assertMetric(t, tf, `tokenfed_keyset_dropped_keys{issuer="edge",reason="`+reason+`"}`, want)
		}
	}
}

// waitForCause waits until the issuer-edge readiness line reports a failed
// fetch ending in cause, and returns the line.
func waitForCause(t *testing.T, tf *tokenfed, cause string) string {
	t.Helper()
	want := regexp.MustCompile(`: ` + regexp.QuoteMeta(cause) + `\)?$`)
	var line string
	waitFor(t, 10*time.Second, "an issuer-edge line ending in "+cause, func() (bool, string) {
		line = issuerLine(t, tf)
		return want.MatchString(line), line
	})
	return line
}

func checkTokens(t *testing.T, tf *tokenfed, iss *fakeIssuer, step string, accepted, refused []signer) {
	t.Helper()
	for _, s := range accepted {
		tok, jti := iss.token(t, s)
		if msg := acceptanceProblem(tf.review(t, tok), jti, []string{iss.URL()}); msg != "" {
			t.Fatalf("%s: %s token: %s", step, s.alg, msg)
		}
	}
	for _, s := range refused {
		tok, _ := iss.token(t, s)
		if msg := rejectionProblem(tf.review(t, tok), tok, errUnknownID); msg != "" {
			t.Fatalf("%s: %s token: %s", step, s.alg, msg)
		}
	}
}
