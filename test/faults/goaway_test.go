package faults

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// Figures of HTTP/2 GOAWAY.
const (
	// inFlightFor is how long the upstream holds each review, so that
	// reviews are in flight when tokenfed is told to stop.
	inFlightFor = 1500 * time.Millisecond
	// goAwayWithin bounds the time from SIGTERM to the client seeing
	// GOAWAY on a connection with reviews in flight: at once, not once
	// they end.
	goAwayWithin = 500 * time.Millisecond
	// exitWithin bounds the time from SIGTERM to the process's exit: the
	// reviews in flight, the second x/net gives a connection to read
	// GOAWAY before it closes it, and slack.
	exitWithin = inFlightFor + time.Second + 2*time.Second
	// inFlightReviews are on the connection when SIGTERM lands.
	inFlightReviews = 3
	// settledWithin bounds waiting for a reload to apply (SIGHUP reads the
	// file at once) and for the reviews to reach the upstream.
	settledWithin = 5 * time.Second
)

// slowConfirmed trusts is, with every token confirmed by up, which holds
// each answer inFlightFor.
func slowConfirmed(t *testing.T, is *issuer) (v1alpha1.Configuration, *fakeUpstream) {
	t.Helper()
	up := newFakeUpstream(t)
	up.setDelay(inFlightFor)
	cfg := alwaysConfirmed(is, up)
	cfg.Issuers[0].Upstream.Timeout = duration(5 * inFlightFor)
	return cfg, up
}

// h2Conn is one HTTP/2 connection to tokenfed with its client
// certificate: every request on it shares it, and its State shows GOAWAY.
func h2Conn(t *testing.T, p *tokenfedproc.Process) *http2.ClientConn {
	t.Helper()
	conf := p.TLSConfig()
	conf.NextProtos = []string{http2.NextProtoTLS}
	c, err := tls.Dial("tcp", strings.TrimPrefix(p.URL, "https://"), conf)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := (&http2.Transport{}).NewClientConn(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// reviewOn posts a review on cc and decodes the answer.
func reviewOn(cc *http2.ClientConn, url, token string) (*authenticationv1.TokenReviewStatus, error) {
	body := `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"` + token + `"}}`
	req, _ := http.NewRequest(http.MethodPost, url+reviewPath, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := cc.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New(resp.Status + ": " + string(data))
	}
	var tr authenticationv1.TokenReview
	return &tr.Status, json.Unmarshal(data, &tr)
}

// TestGoAwayOnShutdownAndNotOnReload: a configuration reload keeps
// HTTP/2 connections (no GOAWAY: the listener is untouched); SIGTERM sends
// GOAWAY at once on a connection with inFlightReviews reviews in flight.
// Figures: GOAWAY within goAwayWithin of SIGTERM; a request the client
// sends after it is not taken on that connection; every review in flight
// gets its 200 answer; the process exits 0 within exitWithin.
func TestGoAwayOnShutdownAndNotOnReload(t *testing.T) {
	t.Parallel()
	is := newIssuer(t, "edge")
	cfg, up := slowConfirmed(t, is)
	tf := startTokenfed(t, cfg)
	cc := h2Conn(t, tf.p)

	if err := tf.p.EditConfig(func(c *v1alpha1.Configuration) { c.Cache.FailureTTL = duration(11 * time.Second) }); err != nil {
		t.Fatal(err)
	}
	if err := tf.p.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, settledWithin, "the reload applied", func() (bool, string) {
		n := tf.metric(t, `tokenfed_config_reloads_total{result="success"}`)
		return n == 1, "reloads " + strconv.FormatFloat(n, 'g', -1, 64)
	})
	if cc.State().Closing {
		t.Fatal("got GOAWAY on a configuration reload, want the connection kept")
	}
	if st, err := reviewOn(cc, tf.p.URL, is.token(t, claims{})); err != nil || !st.Authenticated {
		t.Fatalf("review on the connection after a reload: got %+v, %v, want authenticated", st, err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, inFlightReviews)
	before := up.calls()
	for range inFlightReviews {
		tok := is.token(t, claims{})
		wg.Go(func() {
			st, err := reviewOn(cc, tf.p.URL, tok)
			if err == nil && !st.Authenticated {
				err = errors.New("not authenticated: " + st.Error)
			}
			errs <- err
		})
	}
	waitFor(t, settledWithin, "the reviews in flight upstream", func() (bool, string) {
		return up.inFlight.Load() == inFlightReviews && up.callsSince(before) == inFlightReviews, "in flight " + strconv.FormatInt(up.inFlight.Load(), 10)
	})

	sigterm := time.Now()
	if err := tf.p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	goAway := waitFor(t, goAwayWithin, "GOAWAY on the connection", func() (bool, string) {
		return cc.State().Closing, "no GOAWAY"
	})
	if _, err := reviewOn(cc, tf.p.URL, is.token(t, claims{})); err == nil {
		t.Fatal("a review sent after GOAWAY was taken on the same connection, want it left to a new one")
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("review in flight at SIGTERM: %v, want its answer", err)
		}
	}
	code, err := tf.p.Wait(exitWithin)
	exited := time.Since(sigterm)
	if err != nil || code != 0 {
		t.Fatalf("got exit %d (%v) %s after SIGTERM, want 0 within %s", code, err, exited, exitWithin)
	}
	t.Logf("reload: connection kept; SIGTERM with %d reviews in flight: GOAWAY after %s, all answered, exit 0 after %s",
		inFlightReviews, goAway.Round(time.Millisecond), exited.Round(time.Millisecond))
}

// TestGoAwayRollingRestart: two tokenfed replicas behind one address (a
// TCP forwarder that sends a new connection to the first replica while it
// listens, else to the second: a Service whose endpoint is going away),
// and client-go sending reviews from rollingClients goroutines all along.
// The first replica is stopped with SIGTERM. Figures: no review fails;
// the ones in flight finish on the first replica; client-go, told GOAWAY,
// sends the rest on a new connection, which reaches the second.
func TestGoAwayRollingRestart(t *testing.T) {
	t.Parallel()
	const rollingClients = 4
	is := newIssuer(t, "edge")
	cfg, _ := slowConfirmed(t, is)
	cfg.Issuers[0].Upstream.MaxConcurrent = 4 * rollingClients
	first := startTokenfed(t, cfg)
	// The second replica has its own serving certificate, and accepts the
	// first's callers; the client trusts both serving CAs.
	secondCfg := cfg
	secondCfg.Server.ClientCAFile = first.p.Certs.CACert
	second := startTokenfed(t, secondCfg)
	fwd := newForwarder(t, first.p.URL, second.p.URL)
	cas := readFile(t, first.p.Certs.CACert) + readFile(t, second.p.Certs.CACert)

	rc := first.p.RESTConfig()
	rc.Host, rc.QPS = fwd.url, -1
	rc.TLSClientConfig.CAFile, rc.TLSClientConfig.CAData = "", []byte(cas)
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range rollingClients {
		wg.Go(func() { reviewUntil(t, cs, is, stop, &ok, &failed) })
	}
	time.Sleep(2 * inFlightFor)
	okBefore := ok.Load()
	sigterm := time.Now()
	if err := first.p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, err := first.p.Wait(exitWithin)
	exited := time.Since(sigterm)
	time.Sleep(2 * inFlightFor)
	close(stop)
	wg.Wait()
	if err != nil || code != 0 {
		t.Fatalf("got the first replica's exit %d (%v) %s after SIGTERM, want 0 within %s", code, err, exited, exitWithin)
	}
	conf := first.p.TLSConfig()
	conf.RootCAs.AppendCertsFromPEM([]byte(cas))
	bySecond := metricVia(t, &http.Client{Transport: &http.Transport{TLSClientConfig: conf}}, second.p.URL, `tokenfed_tokenreview_requests_total{api_version="v1",code="200",outcome="authenticated"}`)
	if failed.Load() != 0 || okBefore == 0 || bySecond == 0 {
		t.Fatalf("got %d reviews failed, %d answered before SIGTERM, %v by the second replica; want none failed, and some answered by each", failed.Load(), okBefore, bySecond)
	}
	t.Logf("rolling restart with %d client-go clients: %d reviews, 0 failed; %d answered before SIGTERM, %v by the second replica; first exited %s after SIGTERM (%d connections forwarded)",
		rollingClients, ok.Load(), okBefore, bySecond, exited.Round(time.Millisecond), fwd.conns.Load())
}

// reviewUntil reviews fresh tokens with client-go until stop, counting
// answers that authenticate and failures.
func reviewUntil(t *testing.T, cs kubernetes.Interface, is *issuer, stop <-chan struct{}, ok, failed *atomic.Int64) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		tr := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: is.token(t, claims{})}}
		out, err := cs.AuthenticationV1().TokenReviews().Create(context.Background(), tr, metav1.CreateOptions{})
		if err != nil || !out.Status.Authenticated {
			failed.Add(1)
			t.Errorf("review during the rolling restart: %v", err)
			continue
		}
		ok.Add(1)
	}
}

// metricVia reads one series of the /metrics at url with client c.
func metricVia(t *testing.T, c *http.Client, url, series string) float64 {
	t.Helper()
	resp, err := c.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	v, _ := seriesValue(string(data), series)
	return v
}

// seriesValue finds series (name and labels, as printed) in a /metrics
// body.
func seriesValue(body, series string) (float64, bool) {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// forwarder is one address for two replicas: it splices each connection
// to the first while it accepts connections, else to the second.
type forwarder struct {
	url   string
	conns atomic.Int64
}

func newForwarder(t *testing.T, firstURL, secondURL string) *forwarder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f := &forwarder{url: "https://" + ln.Addr().String()}
	targets := []string{strings.TrimPrefix(firstURL, "https://"), strings.TrimPrefix(secondURL, "https://")}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.conns.Add(1)
			go splice(c, targets)
		}
	}()
	return f
}

func splice(c net.Conn, targets []string) {
	defer c.Close()
	var up net.Conn
	for _, addr := range targets {
		var err error
		if up, err = net.DialTimeout("tcp", addr, time.Second); err == nil {
			break
		}
	}
	if up == nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
