package faults

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
)

// jwksMode is how the JWKS endpoint answers.
type jwksMode int32

const (
	jwksServe jwksMode = iota
	// jwks500 answers 500.
	jwks500
	// jwksHang holds every request until the client gives up.
	jwksHang
	// jwksHuge sends a valid document padded to hugeBytes.
	jwksHuge
	// jwksGarbage sends random bytes as application/json.
	jwksGarbage
	// jwksEmpty sends {"keys":[]}.
	jwksEmpty
	// jwksDisallowed sends only keys of algorithms not allowed (ES384,
	// ES512 where the issuer allows ES256).
	jwksDisallowed
)

// hugeBytes is the "sends 10 MB" fault: ten times tokenfed's 1 MiB limit.
const hugeBytes = 10 << 20

// jwksServer serves an issuer's JWKS over TLS and misbehaves on demand.
// It can go down (connection refused) and come back on the same port.
type jwksServer struct {
	is      *issuer
	addr    string
	caFile  string
	cert    tls.Certificate
	mode    atomic.Int32
	hits    atomic.Int64
	release chan struct{}
	// hugeSent is how many bytes of the last huge answer were written
	// before the client hung up.
	hugeSent atomic.Int64

	mu  sync.Mutex
	srv *http.Server
}

func newJWKSServer(t *testing.T, is *issuer) *jwksServer {
	t.Helper()
	ca, err := devcerts.NewCA("jwks-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue("jwks", nil, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	s := &jwksServer{is: is, cert: cert, release: make(chan struct{}), caFile: filepath.Join(t.TempDir(), "jwks-ca.pem")}
	if err := os.WriteFile(s.caFile, ca.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(func() {
		close(s.release)
		s.down()
	})
	return s
}

func (s *jwksServer) url() string { return "https://" + s.addr + "/jwks" }

func (s *jwksServer) setMode(m jwksMode) { s.mode.Store(int32(m)) }

func (s *jwksServer) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(s.serveHTTP), TLSConfig: &tls.Config{Certificates: []tls.Certificate{s.cert}}}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.ServeTLS(ln, "", "") }()
}

// down closes the listener and every connection: fetches are refused.
func (s *jwksServer) down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		_ = s.srv.Close()
		s.srv = nil
	}
}

// up listens again on the same port.
func (s *jwksServer) up(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		t.Fatalf("listening again on %s: %v", s.addr, err)
	}
	s.serve(ln)
}

func (s *jwksServer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	w.Header().Set("Content-Type", "application/json")
	switch jwksMode(s.mode.Load()) {
	case jwks500:
		http.Error(w, "issuer is down", http.StatusInternalServerError)
	case jwksHang:
		select {
		case <-r.Context().Done():
		case <-s.release:
		}
	case jwksHuge:
		s.writeHuge(w)
	case jwksGarbage:
		garbage := make([]byte, 4096)
		_, _ = rand.Read(garbage)
		_, _ = w.Write(garbage)
	case jwksEmpty:
		_, _ = w.Write([]byte(`{"keys":[]}`))
	case jwksDisallowed:
		_, _ = w.Write(disallowedJWKS())
	default:
		_, _ = w.Write(s.is.jwks())
	}
}

// writeHuge sends the issuer's real keys, padded to hugeBytes with
// whitespace: a document that would load if it were read whole.
func (s *jwksServer) writeHuge(w http.ResponseWriter) {
	doc := s.is.jwks()
	chunk := []byte(strings.Repeat(" ", 64<<10))
	sent, _ := w.Write(doc[:len(doc)-1])
	for sent < hugeBytes {
		n, err := w.Write(chunk)
		sent += n
		if err != nil {
			break
		}
	}
	n, _ := w.Write([]byte("}"))
	s.hugeSent.Store(int64(sent + n))
}

// disallowedJWKS holds a P-384 and a P-521 key, for ES384 and ES512.
func disallowedJWKS() []byte {
	var keys []jose.JSONWebKey
	for alg, curve := range map[jose.SignatureAlgorithm]elliptic.Curve{jose.ES384: elliptic.P384(), jose.ES512: elliptic.P521()} {
		k, _ := ecdsa.GenerateKey(curve, rand.Reader)
		keys = append(keys, jose.JSONWebKey{Key: k.Public(), KeyID: string(alg), Use: "sig", Algorithm: string(alg)})
	}
	doc, _ := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	return doc
}

// Figures of the key-fetch faults.
const (
	// fetchTimeout bounds one fetch; refreshEvery is the background
	// refresh, so a fault is met within refreshEvery + fetchTimeout.
	fetchTimeout = 2 * time.Second
	refreshEvery = time.Second
	// faultSeenWithin: the failed fetch shows in /readyz and the metrics
	// within one refresh and one fetch timeout, and some slack.
	faultSeenWithin = refreshEvery + fetchTimeout + 2*time.Second
	// knownKeyLatency bounds a review of a fresh token whose key tokenfed
	// holds, during any key-fetch fault: one signature check, no fetch.
	knownKeyLatency = 500 * time.Millisecond
	// unknownKidLatency bounds a review of a token whose key tokenfed
	// lacks: it waits at most 2 s for a refetch (keyset's maxKidWait),
	// however the endpoint misbehaves.
	unknownKidLatency = 2*time.Second + time.Second
	// knownKeyReviews are made during each fault, each with a fresh token.
	knownKeyReviews = 10
)

// jwksIssuerConfig trusts is with keys from s, refreshed every
// refreshEvery.
func jwksIssuerConfig(is *issuer, s *jwksServer) v1alpha1.Issuer {
	c := is.config()
	c.StaticKeys, c.JWKSURL = nil, s.url()
	c.Fetch = v1alpha1.Fetch{
		CAFile: s.caFile, Timeout: duration(fetchTimeout),
		MinRefresh: duration(refreshEvery), MaxRefresh: duration(refreshEvery), UnknownKidCooldown: duration(refreshEvery),
	}
	return c
}

// TestKeyFetchFaults: once keys are loaded, a JWKS endpoint that is down,
// answers 500, hangs, sends 10 MB, garbage, an empty set or only keys of
// algorithms not allowed never replaces the keys tokenfed holds. Figures:
// the fault shows in /readyz (stale, with its cause) and in
// tokenfed_keyset_fetches_total within faultSeenWithin; tokens of the
// known key are accepted throughout, each within knownKeyLatency; a token
// of an unknown key is refused (200, authenticated: false) within
// unknownKidLatency; no review gets a 5xx; the keys are fresh again within
// faultSeenWithin of the endpoint's recovery.
func TestKeyFetchFaults(t *testing.T) {
	cases := []struct {
		name  string
		mode  jwksMode
		down  bool
		cause *regexp.Regexp
	}{
		{name: "down", down: true, cause: regexp.MustCompile(`connection refused`)},
		{name: "500", mode: jwks500, cause: regexp.MustCompile(`status 500$`)},
		{name: "hangs", mode: jwksHang, cause: regexp.MustCompile(`Client\.Timeout exceeded|deadline exceeded`)},
		{name: "10 MB", mode: jwksHuge, cause: regexp.MustCompile(`body exceeds 1048576 bytes$`)},
		{name: "garbage", mode: jwksGarbage, cause: regexp.MustCompile(`decode jwks`)},
		{name: "empty set", mode: jwksEmpty, cause: regexp.MustCompile(`no usable keys: the document holds no keys$`)},
		{name: "only disallowed algorithms", mode: jwksDisallowed, cause: regexp.MustCompile(`no usable keys: 2 keys dropped: .*"ES384" not allowed`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			is := newIssuer(t, "edge")
			jwks := newJWKSServer(t, is)
			tf := startTokenfed(t, v1alpha1.Configuration{Issuers: []v1alpha1.Issuer{jwksIssuerConfig(is, jwks)}})
			accepted(t, tf.mustReview(t, is.token(t, claims{})), is.username(), knownKeyLatency)

			if tc.down {
				jwks.down()
			} else {
				jwks.setMode(tc.mode)
			}
			seen := waitFor(t, faultSeenWithin, "stale keys whose cause matches "+tc.cause.String(), func() (bool, string) {
				line := issuerLine(t, tf, "edge")
				m := staleLine.FindStringSubmatch(line)
				return m != nil && tc.cause.MatchString(m[1]), line
			})
			if got := tf.metric(t, `tokenfed_keyset_stale{issuer="edge"}`); got != 1 {
				t.Fatalf("got tokenfed_keyset_stale %v, want 1", got)
			}
			if got := tf.metric(t, `tokenfed_keyset_fetches_total{issuer="edge",result="error"}`); got < 1 {
				t.Fatalf("got %v failed fetches counted, want at least 1", got)
			}

			var slowest time.Duration
			for range knownKeyReviews {
				r := tf.mustReview(t, is.token(t, claims{}))
				accepted(t, r, is.username(), knownKeyLatency)
				slowest = max(slowest, r.latency)
			}
			unknown := tf.mustReview(t, is.token(t, claims{kid: "rotated-2"}))
			refused(t, unknown, "unknown signing key", unknownKidLatency)
			tf.noServerFaults(t)

			if tc.down {
				jwks.up(t)
			}
			jwks.setMode(jwksServe)
			recovered := waitFor(t, faultSeenWithin, "fresh keys after the endpoint recovered", func() (bool, string) {
				line := issuerLine(t, tf, "edge")
				return freshLine.MatchString(line), line
			})
			t.Logf("%s: stale after %s (%q); %d known-key reviews accepted, slowest %s (bound %s); unknown kid refused in %s (bound %s); fresh %s after recovery; huge answer: %d bytes written before tokenfed hung up",
				tc.name, seen.Round(time.Millisecond), tc.cause, knownKeyReviews, slowest.Round(time.Millisecond), knownKeyLatency,
				unknown.latency.Round(time.Millisecond), unknownKidLatency, recovered.Round(time.Millisecond), jwks.hugeSent.Load())
		})
	}
}

var (
	freshLine = regexp.MustCompile(`^\[\+\]issuer-edge ok \(1 key, [0-9hms.]+ old\)$`)
	staleLine = regexp.MustCompile(`^\[\+\]issuer-edge ok \(1 key, [0-9hms.]+ old, stale: last fetch failed: (.+)\)$`)
)

// issuerLine is issuer NAME's line of /readyz?verbose.
func issuerLine(t *testing.T, tf *tokenfed, name string) string {
	t.Helper()
	_, body, err := tf.p.ReadyzVerbose()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "[+]issuer-"+name+" ") || strings.HasPrefix(line, "[-]issuer-"+name+" ") {
			return line
		}
	}
	t.Fatalf("got /readyz?verbose %q, want an issuer-%s line", body, name)
	return ""
}
