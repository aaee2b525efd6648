package security

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
)

const (
	// fetchTimeout bounds one key fetch. Reviews of tokens whose keys are
	// known must never wait for it.
	fetchTimeout = 5 * time.Second
	// maxReviewLatency is "far below fetchTimeout".
	maxReviewLatency = time.Second
)

var (
	freshLine = regexp.MustCompile(`^\[\+\]issuer-edge ok \(2 keys, [0-9hms.]+ old\)$`)
	staleLine = regexp.MustCompile(`^\[\+\]issuer-edge ok \(2 keys, [0-9hms.]+ old, stale: last fetch failed: (.+)\)$`)
)

// outageFetch refreshes every second, so a failure shows within a second
// (or within fetchTimeout for a hang).
var outageFetch = v1alpha1.Fetch{
	Timeout:    duration(fetchTimeout),
	MinRefresh: duration(time.Second),
	MaxRefresh: duration(time.Second),
}

// TestJWKSOutage: once keys are loaded, an issuer that fails, hangs or is
// gone costs nothing to tokens whose keys are known. They keep being
// accepted, each well under the fetch timeout; /readyz stays ready but says
// the keys are stale and why; tokenfed_keyset_stale reports it.
func TestJWKSOutage(t *testing.T) {
	tests := []struct {
		name string
		fail func(*fakeIssuer)
		// wantCause matches the readiness detail once a fetch has failed.
		wantCause *regexp.Regexp
		hangs     bool
	}{
		{name: "500", fail: func(f *fakeIssuer) { f.setMode(modeFail) }, wantCause: regexp.MustCompile(`: status 500$`)},
		{name: "hang", fail: func(f *fakeIssuer) { f.setMode(modeHang) }, wantCause: regexp.MustCompile(`Client\.Timeout exceeded|deadline exceeded`), hangs: true},
		{name: "server gone", fail: (*fakeIssuer).stop, wantCause: regexp.MustCompile(`connection refused`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			iss := newFakeIssuer(t)
			tf := startTokenfed(t, edgeConfig(iss, outageFetch))
			tok, jti := iss.token(t, rs256)
			assertAccepted(t, tf.review(t, tok), jti, []string{iss.URL()})
			if line := issuerLine(t, tf); !freshLine.MatchString(line) {
				t.Fatalf("got readiness %q before the outage, want fresh keys", line)
			}
			assertMetric(t, tf, `tokenfed_keyset_stale{issuer="edge"}`, 0)

			tc.fail(iss)
			start := time.Now()
			s := &latencies{}
			var line string
			waitFor(t, fetchTimeout+5*time.Second, "a stale issuer line matching "+tc.wantCause.String(), func() (bool, string) {
				hanging := iss.hanging.Load() > 0
				s.reviewKnownKey(t, tf, iss)
				if hanging && iss.hanging.Load() > 0 {
					s.duringHang++
				}
				line = issuerLine(t, tf)
				m := staleLine.FindStringSubmatch(line)
				return m != nil && tc.wantCause.MatchString(m[1]), line
			})
			toStale := time.Since(start)

			if code, body := tf.get(t, "/readyz"); code != http.StatusOK {
				t.Fatalf("got /readyz %d %q with stale keys, want 200", code, body)
			}
			assertMetric(t, tf, `tokenfed_keyset_stale{issuer="edge"}`, 1)
			if n := metricValue(t, tf, `tokenfed_keyset_fetches_total{issuer="edge",result="error"}`); n < 1 {
				t.Fatalf("got %v failed fetches counted, want at least 1", n)
			}
			if tc.hangs {
				if s.duringHang == 0 {
					t.Fatal("got no review while a fetch was hanging, want some")
				}
				unknownKidWhileHanging(t, tf, iss, s)
			}
			for range 5 {
				s.reviewKnownKey(t, tf, iss)
			}
			t.Logf("%s: %q after %s; %d known-key reviews (%d during a hung fetch), max latency %s",
				tc.name, line, toStale.Round(time.Millisecond), s.n, s.duringHang, s.max.Round(time.Microsecond))
		})
	}
}

// latencies tracks reviews of valid tokens during an outage.
type latencies struct {
	n, duringHang int
	max           time.Duration
}

// reviewKnownKey reviews a fresh valid token (so the result cache cannot
// answer), alternating key types, and requires a fast acceptance.
func (s *latencies) reviewKnownKey(t *testing.T, tf *tokenfed, iss *fakeIssuer) {
	t.Helper()
	tok, jti := iss.token(t, []signer{rs256, es256}[s.n%2])
	r := tf.review(t, tok)
	assertAccepted(t, r, jti, []string{iss.URL()})
	if r.latency > maxReviewLatency {
		t.Fatalf("got a review taking %s during the outage, want under %s", r.latency, maxReviewLatency)
	}
	s.n++
	s.max = max(s.max, r.latency)
}

// unknownKidWhileHanging: a token with an unknown kid makes tokenfed refetch
// from the hanging issuer, so that review may wait up to the fetch timeout;
// meanwhile tokens with known keys must still be answered at once.
func unknownKidWhileHanging(t *testing.T, tf *tokenfed, iss *fakeIssuer, s *latencies) {
	t.Helper()
	tok, _ := iss.token(t, rs256.withKid("rotated-key"))
	type answer struct {
		r   result
		err error
	}
	done := make(chan answer, 1)
	go func() {
		r, err := tf.do(tok)
		done <- answer{r, err}
	}()
	for range 5 {
		s.reviewKnownKey(t, tf, iss)
		time.Sleep(50 * time.Millisecond)
	}
	a := <-done
	if a.err != nil {
		t.Fatalf("unknown-kid review: %v", a.err)
	}
	r := a.r
	assertRejected(t, r, tok, errUnknownID)
	if r.latency > fetchTimeout+2*time.Second {
		t.Fatalf("got an unknown-kid review taking %s, want at most the fetch timeout %s plus slack", r.latency, fetchTimeout)
	}
	t.Logf("unknown-kid review while the issuer hangs took %s (fetch timeout %s)", r.latency.Round(time.Millisecond), fetchTimeout)
}

// issuerLine is the issuer-edge line of /readyz?verbose.
func issuerLine(t *testing.T, tf *tokenfed) string {
	t.Helper()
	_, body := tf.get(t, "/readyz?verbose")
	for _, line := range strings.Split(body, "\n") {
		if strings.Contains(line, "issuer-edge") {
			return line
		}
	}
	t.Fatalf("got /readyz?verbose %q, want an issuer-edge line", body)
	return ""
}

// metricValue is the value of the one sample named exactly series.
func metricValue(t *testing.T, tf *tokenfed, series string) float64 {
	t.Helper()
	line := tf.metric(t, series+" ")
	v, err := strconv.ParseFloat(strings.TrimPrefix(line, series+" "), 64)
	if err != nil {
		t.Fatalf("got metric lines %q, want one sample of %s", line, series)
	}
	return v
}

func assertMetric(t *testing.T, tf *tokenfed, series string, want float64) {
	t.Helper()
	if got := metricValue(t, tf, series); got != want {
		t.Fatalf("got %s %v, want %v", series, got, want)
	}
}
