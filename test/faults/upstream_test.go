package faults

import (
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/fakeapiserver"
)

// upstreamMode is how the fake TokenReview API answers.
type upstreamMode int32

const (
	// upstreamOK confirms every token as default/default, after delay.
	upstreamOK upstreamMode = iota
	// upstream500 answers 500 as plain text.
	upstream500
	// upstream429 answers kube-apiserver's own 429: a Status with
	// retryAfterSeconds, and the Retry-After header.
	upstream429
)

// fakeUpstream is an issuing cluster's TokenReview API on the wire
// (pkg/testing/fakeapiserver), made to fail on purpose: its answer goes by
// mode, after delay, and it counts the calls in flight.
type fakeUpstream struct {
	*fakeapiserver.Server
	kubeconfig string
	mode       atomic.Int32
	// delay holds every answer this long.
	delay atomic.Int64
	// retryAfter is the 429's Retry-After, in seconds.
	retryAfter int
	inFlight   atomic.Int64
	maxFlight  atomic.Int64
}

func newFakeUpstream(t *testing.T) *fakeUpstream {
	t.Helper()
	f := &fakeUpstream{retryAfter: 3}
	f.Server = fakeapiserver.Start(t, f.answer)
	f.kubeconfig = f.Kubeconfig(t)
	return f
}

func (f *fakeUpstream) setMode(m upstreamMode)   { f.mode.Store(int32(m)) }
func (f *fakeUpstream) setDelay(d time.Duration) { f.delay.Store(int64(d)) }

// calls counts every request that reached the cluster.
func (f *fakeUpstream) calls() int64                  { return f.Hits.Load() }
func (f *fakeUpstream) callsSince(before int64) int64 { return f.calls() - before }

// confirmed is the cluster's answer for every token: default/default.
var confirmed = authenticationv1.UserInfo{
	Username: "system:serviceaccount:default:default", UID: "6b1e6f1c-0000-4000-8000-000000000001",
	Groups: []string{"system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"},
}

func (f *fakeUpstream) answer(w http.ResponseWriter, r *http.Request, review *authenticationv1.TokenReview) {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for cur := f.maxFlight.Load(); n > cur && !f.maxFlight.CompareAndSwap(cur, n); cur = f.maxFlight.Load() {
	}
	select {
	case <-time.After(time.Duration(f.delay.Load())):
	case <-r.Context().Done():
		return
	}
	switch upstreamMode(f.mode.Load()) {
	case upstream500:
		fakeapiserver.Text(http.StatusInternalServerError, "")(w, r, review)
	case upstream429:
		fakeapiserver.APIStatus(http.StatusTooManyRequests, metav1.StatusReasonTooManyRequests, f.retryAfter)(w, r, review)
	default:
		fakeapiserver.Respond(w, review.Spec, authenticationv1.TokenReviewStatus{Authenticated: true, Audiences: review.Spec.Audiences, User: confirmed})
	}
}

// writeKubeconfig writes a kubeconfig for server, trusting caPEM, with a
// bearer token as tokenfed's credential.
func writeKubeconfig(t *testing.T, server string, caPEM []byte, token string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["upstream"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["tokenfed"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["upstream"] = &clientcmdapi.Context{Cluster: "upstream", AuthInfo: "tokenfed"}
	cfg.CurrentContext = "upstream"
	path := filepath.Join(t.TempDir(), "upstream.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// Figures of the upstream faults. The breaker's own numbers are
// pkg/authn/upstream's: 5 failures in a row open it for 1 s, doubling.
const (
	breakerThreshold = 5
	breakerMinOpen   = time.Second
	// upstreamTimeout is the issuer's upstream.timeout in these tests.
	upstreamTimeout = time.Second
	// failedCallLatency bounds an answer whose upstream call failed:
	// the call's own time, at most upstreamTimeout, and some slack.
	failedCallLatency = upstreamTimeout + 500*time.Millisecond
	// noCallLatency bounds an answer given without an upstream call (open
	// breaker, remembered refusal, busy, cached): no I/O at all.
	noCallLatency = 500 * time.Millisecond
	// recoverySlack is how late after the breaker may let a probe out
	// the first token is authenticated again.
	recoverySlack = time.Second
	// slowAnswerSlack is how much longer than the cluster's own delay a
	// slow answer may take.
	slowAnswerSlack = 500 * time.Millisecond
	// openProbeEvery is how often the open breaker is tried, stopping
	// openMargin before the Retry-After ends.
	openProbeEvery = 100 * time.Millisecond
	openMargin     = 500 * time.Millisecond
)

// alwaysConfirmed trusts is, and has every token it verifies confirmed by
// up (policy always), within upstreamTimeout.
func alwaysConfirmed(is *issuer, up *fakeUpstream) v1alpha1.Configuration {
	c := is.config()
	c.Upstream = &v1alpha1.Upstream{Kubeconfig: up.kubeconfig, Policy: v1alpha1.UpstreamAlways, Timeout: duration(upstreamTimeout)}
	return v1alpha1.Configuration{Issuers: []v1alpha1.Issuer{c}}
}

// TestUpstream500: a cluster answering 500 costs breakerThreshold calls,
// then none while the breaker is open. Figures: of 20 reviews in a row,
// the first 5 are each one call, answered 503 (no Retry-After) within
// failedCallLatency; the other 15 cost no call and are answered 503
// within noCallLatency.
func TestUpstream500(t *testing.T) {
	t.Parallel()
	const reviews = 20
	is, up := newIssuer(t, "edge"), newFakeUpstream(t)
	tf := startTokenfed(t, alwaysConfirmed(is, up))
	up.setMode(upstream500)
	for i := range reviews {
		r := tf.mustReview(t, is.token(t, claims{}))
		if i < breakerThreshold {
			unavailable(t, r, "issuer's cluster is unavailable: HTTP 500 Internal Server Error", failedCallLatency)
			continue
		}
		unavailable(t, r, "issuer's cluster is unavailable: circuit open after repeated failures", noCallLatency)
	}
	if got := up.calls(); got != breakerThreshold {
		t.Fatalf("got %d upstream calls for %d reviews, want %d", got, reviews, breakerThreshold)
	}
	t.Logf("%d reviews against a cluster answering 500: %d upstream calls", reviews, up.calls())
}

// TestUpstream429RetryAfter: kube-apiserver's 429 with Retry-After: 3
// opens the breaker after breakerThreshold of them for the 3 s it asked,
// not the breaker's 1 s. Figures: 0 calls while it is open; the first
// token is authenticated again 3 s after opening, at most recoverySlack
// later; every 503 is without Retry-After.
func TestUpstream429RetryAfter(t *testing.T) {
	t.Parallel()
	is, up := newIssuer(t, "edge"), newFakeUpstream(t)
	tf := startTokenfed(t, alwaysConfirmed(is, up))
	up.setMode(upstream429)
	for range breakerThreshold {
		unavailable(t, tf.mustReview(t, is.token(t, claims{})), "HTTP 429 Too Many Requests", failedCallLatency)
	}
	opened := time.Now()
	retryAfter := time.Duration(up.retryAfter) * time.Second
	before := up.calls()
	answered := 0
	for time.Since(opened) < retryAfter-openMargin {
		unavailable(t, tf.mustReview(t, is.token(t, claims{})), "circuit open", noCallLatency)
		answered++
		time.Sleep(openProbeEvery)
	}
	if n := up.callsSince(before); n != 0 {
		t.Fatalf("got %d upstream calls within the Retry-After of %s, want 0", n, retryAfter)
	}
	up.setMode(upstreamOK)
	recovered := waitFor(t, retryAfter+recoverySlack, "an authenticated token", func() (bool, string) {
		r := tf.mustReview(t, is.token(t, claims{}))
		return r.status.Authenticated, r.String()
	})
	since := time.Since(opened)
	if since < retryAfter {
		t.Fatalf("got a token authenticated %s after the breaker opened, want no call before the Retry-After of %s", since, retryAfter)
	}
	t.Logf("429 Retry-After %s: %d reviews answered without a call while open; authenticated again %s after opening (waited %s)",
		retryAfter, answered, since.Round(time.Millisecond), recovered.Round(time.Millisecond))
}

// TestUpstreamSlow: a cluster slower than upstream.timeout costs each
// review at most the timeout; a slow one within it is waited for, and its
// answer cached; and no more than upstream.maxConcurrent calls wait on it
// at once, the others answered at once. Figures: failedCallLatency for a
// timeout; the slow answer within its delay + slowAnswerSlack, its repeat within
// noCallLatency without a call; of 10 concurrent reviews with
// maxConcurrent 4, 4 calls out at once at most, 6 answered 503 within
// noCallLatency.
func TestUpstreamSlow(t *testing.T) {
	t.Parallel()
	const (
		slowDelay     = 400 * time.Millisecond
		maxConcurrent = 4
		concurrent    = 10
	)
	is, up := newIssuer(t, "edge"), newFakeUpstream(t)
	cfg := alwaysConfirmed(is, up)
	cfg.Issuers[0].Upstream.MaxConcurrent = maxConcurrent
	tf := startTokenfed(t, cfg)

	up.setDelay(3 * upstreamTimeout)
	unavailable(t, tf.mustReview(t, is.token(t, claims{})), "issuer's cluster is unavailable: timed out", failedCallLatency)

	up.setDelay(slowDelay)
	tok := is.token(t, claims{})
	slow := tf.mustReview(t, tok)
	accepted(t, slow, is.username(), slowDelay+slowAnswerSlack)
	before := up.calls()
	again := tf.mustReview(t, tok)
	accepted(t, again, is.username(), noCallLatency)
	if n := up.callsSince(before); n != 0 {
		t.Fatalf("got %d upstream calls for a repeat of a confirmed token, want 0 (cached)", n)
	}

	up.setDelay(upstreamTimeout / 2)
	var wg sync.WaitGroup
	results := make([]result, concurrent)
	for i := range concurrent {
		tok := is.token(t, claims{})
		wg.Go(func() { results[i], _ = tf.review(tok) })
	}
	wg.Wait()
	ok, busy := 0, 0
	for _, r := range results {
		switch {
		case r.status.Authenticated:
			ok++
		case r.code == http.StatusServiceUnavailable && r.latency <= noCallLatency && r.retryAfter == "":
			busy++
		default:
			t.Errorf("got %s, want authenticated, or 503 busy within %s", r, noCallLatency)
		}
	}
	if got := up.maxFlight.Load(); got > maxConcurrent {
		t.Fatalf("got %d upstream calls in flight at once, want at most %d", got, maxConcurrent)
	}
	if ok+busy != concurrent || ok < 1 || busy < concurrent-maxConcurrent {
		t.Fatalf("got %d authenticated and %d busy of %d, want at most %d authenticated and the rest busy", ok, busy, concurrent, maxConcurrent)
	}
	t.Logf("slow cluster: timeout answered in %s; %s answer in %s, repeat in %s (cached); %d concurrent: %d authenticated, %d busy, %d calls in flight at most",
		upstreamTimeout, slowDelay, slow.latency.Round(time.Millisecond), again.latency.Round(time.Millisecond), concurrent, ok, busy, up.maxFlight.Load())
}

// TestUpstreamFlapping: a cluster that goes down (500) for flapDown and
// comes back for flapUp, flapPhases times (an apiserver that keeps
// restarting), while a review of a fresh token arrives every
// flapInterval. A down phase shorter than the breaker's first open period
// is met by breakerThreshold failures and no failed probe, so the breaker
// is not pushed to longer periods: a successful probe resets it. Figures:
// every review is answered within failedCallLatency, authenticated or 503;
// each down phase costs at most breakerThreshold calls; after each
// recovery the first token is authenticated within breakerMinOpen +
// recoverySlack.
func TestUpstreamFlapping(t *testing.T) {
	t.Parallel()
	const (
		flapPhases   = 3
		flapDown     = breakerMinOpen
		flapUp       = 2 * breakerMinOpen
		flapInterval = 50 * time.Millisecond
	)
	is, up := newIssuer(t, "edge"), newFakeUpstream(t)
	tf := startTokenfed(t, alwaysConfirmed(is, up))
	var report []string
	for phase := range flapPhases {
		up.setMode(upstream500)
		before := up.calls()
		reviewFor(t, tf, is, flapDown, flapInterval, func(result) {})
		downCalls := up.callsSince(before)
		if downCalls > breakerThreshold {
			t.Fatalf("phase %d: got %d upstream calls while the cluster was down for %s, want at most %d", phase, downCalls, flapDown, breakerThreshold)
		}
		up.setMode(upstreamOK)
		back := time.Now()
		var firstOK time.Duration
		reviewFor(t, tf, is, flapUp, flapInterval, func(r result) {
			if r.status.Authenticated && firstOK == 0 {
				firstOK = time.Since(back)
			}
		})
		if firstOK == 0 || firstOK > breakerMinOpen+recoverySlack {
			t.Fatalf("phase %d: first authenticated %s after the cluster came back, want within %s", phase, firstOK, breakerMinOpen+recoverySlack)
		}
		report = append(report, fmt.Sprintf("down: %d calls, back: authenticated after %s", downCalls, firstOK.Round(time.Millisecond)))
	}
	tf.only5xx(t, "503")
	t.Logf("down %s / up %s, %d times: %q", flapDown, flapUp, flapPhases, report)
}

// reviewFor reviews a fresh token every interval for d; each answer must
// be 200 authenticated or 503, within failedCallLatency. seen sees each.
func reviewFor(t *testing.T, tf *tokenfed, is *issuer, d, interval time.Duration, seen func(result)) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(interval) {
		r := tf.mustReview(t, is.token(t, claims{}))
		good := (r.code == http.StatusOK && r.status.Authenticated) || (r.code == http.StatusServiceUnavailable && r.retryAfter == "")
		if !good || r.latency > failedCallLatency {
			t.Fatalf("got %s, want authenticated or 503 within %s", r, failedCallLatency)
		}
		seen(r)
	}
}
