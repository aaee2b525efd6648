package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/textlogger"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/tokenfed/tokenfed/pkg/testing/fakeapiserver"
)

// identicalReviews is issue 15's figure: 8 identical reviews in a row
// against a cluster that refuses tokenfed's credential may cost at most 2
// calls. Remembering the refusal makes it 1.
const identicalReviews = 8

// TestCredentialRefusalIsRemembered: a 401 or 403 from the cluster is
// answered ErrCredentialRefused, with the status, and remembered: the
// reviews that follow within CredentialHold are answered the same without
// a call. After the hold one call checks again; once the cluster accepts
// the credential, calls go out as before. The breaker never opens.
func TestCredentialRefusalIsRemembered(t *testing.T) {
	for _, code := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			clk := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			srv := fakeapiserver.Start(t, fakeapiserver.APIStatus(code, metav1.StatusReason(http.StatusText(code)), 0))
			c, m := newTestClient(t, srv, Options{Clock: clk})
			want := fmt.Sprintf("issuer's cluster refuses tokenfed's credential: HTTP %d %s", code, http.StatusText(code))

			for i := range identicalReviews {
				_, err := c.Review(context.Background(), testToken, nil)
				if !errors.Is(err, ErrCredentialRefused) || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrRejected) || err.Error() != want {
					t.Fatalf("review %d: got %v, want only ErrCredentialRefused: %q", i, err, want)
				}
				checkNoToken(t, err)
			}
			if n := srv.Hits.Load(); n != 1 {
				t.Fatalf("got %d calls for %d identical reviews, want 1 (the refusal is remembered)", n, identicalReviews)
			}
			for result, want := range map[string]float64{"error": 1, "credential_refused": identicalReviews - 1} {
				if got := counter(t, m, result); got != want {
					t.Errorf("got %v reviews with result %q, want %v", got, result, want)
				}
			}
			if got := gauge(t, m); got != float64(closed) {
				t.Errorf("got breaker state %v, want closed: a refused credential is not an outage", got)
			}

			clk.Step(CredentialHold - time.Millisecond)
			mustSend(t, c, srv, false, "just before the hold ends")
			clk.Step(time.Millisecond)
			mustSend(t, c, srv, true, "once the hold ends")
			mustSend(t, c, srv, false, "after a check that was refused again")

			srv.SetAnswer(answerAuthenticated)
			clk.Step(CredentialHold)
			if _, err := c.Review(context.Background(), testToken, nil); err != nil {
				t.Fatalf("got %v once the cluster accepts the credential, want success", err)
			}
			mustSend(t, c, srv, true, "after the refusal ended")
		})
	}
}

// mustSend reviews once and checks whether the review reached the cluster.
func mustSend(t *testing.T, c *Client, srv *fakeapiserver.Server, want bool, when string) {
	t.Helper()
	before := srv.Hits.Load()
	_, err := c.Review(context.Background(), testToken, nil)
	if sent := srv.Hits.Load() != before; sent != want {
		t.Fatalf("%s: got sent=%v (err %v), want %v", when, sent, err, want)
	}
}

// TestCredentialRefusalOneCheckAtATime: once the hold is over, one review
// checks again; reviews arriving while it is out keep the remembered
// answer instead of piling onto the cluster.
func TestCredentialRefusalOneCheckAtATime(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := fakeapiserver.Start(t, fakeapiserver.APIStatus(http.StatusForbidden, metav1.StatusReasonForbidden, 0))
	c, _ := newTestClient(t, srv, Options{Clock: clk})
	if _, err := c.Review(context.Background(), testToken, nil); !errors.Is(err, ErrCredentialRefused) {
		t.Fatalf("got %v, want ErrCredentialRefused", err)
	}
	clk.Step(CredentialHold)

	arrived, release := make(chan struct{}), make(chan struct{})
	srv.SetAnswer(func(w http.ResponseWriter, r *http.Request, review *authenticationv1.TokenReview) {
		close(arrived)
		<-release
		answerAuthenticated(w, r, review)
	})
	check := make(chan error, 1)
	go func() {
		_, err := c.Review(context.Background(), testToken, nil)
		check <- err
	}()
	<-arrived
	var wg sync.WaitGroup
	for range identicalReviews {
		wg.Go(func() {
			if _, err := c.Review(context.Background(), testToken, nil); !errors.Is(err, ErrCredentialRefused) {
				t.Errorf("got %v while the check is out, want the remembered ErrCredentialRefused", err)
			}
		})
	}
	wg.Wait()
	if n := srv.Hits.Load(); n != 2 {
		t.Errorf("got %d calls, want 2 (the refusal and the one check)", n)
	}
	close(release)
	if err := <-check; err != nil {
		t.Fatalf("got %v from the check, want success", err)
	}
}

// TestCredentialRefusalLoggedOnce: the refusal is logged when it starts
// and when it ends, not for every review answered from memory.
func TestCredentialRefusalLoggedOnce(t *testing.T) {
	var buf bytes.Buffer
	ctx := klog.NewContext(context.Background(), textlogger.NewLogger(textlogger.NewConfig(textlogger.Output(&buf))))
	clk := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := fakeapiserver.Start(t, fakeapiserver.APIStatus(http.StatusForbidden, metav1.StatusReasonForbidden, 0))
	c, _ := newTestClient(t, srv, Options{Clock: clk})

	for range identicalReviews {
		_, _ = c.Review(ctx, testToken, nil)
	}
	srv.SetAnswer(answerAuthenticated)
	clk.Step(CredentialHold)
	for range identicalReviews {
		_, _ = c.Review(ctx, testToken, nil)
	}

	out := buf.String()
	if n := strings.Count(out, "cluster refuses tokenfed's credential"); n != 1 {
		t.Errorf("got %d lines about the refusal, want 1:\n%s", n, out)
	}
	if n := strings.Count(out, "no longer refuses"); n != 1 {
		t.Errorf("got %d lines about the refusal ending, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, `issuer="hub"`) || !strings.Contains(out, "HTTP 403 Forbidden") {
		t.Errorf("got log %q, want it to name the issuer and the status", out)
	}
	if containsTokenPart(out) {
		t.Errorf("got a log that quotes the token:\n%s", out)
	}
}
