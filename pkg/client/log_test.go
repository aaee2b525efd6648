package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/tokenfed/tokenfed/pkg/testing/klogtest"
)

// logToken is the token of the log tests: long enough for client-go to
// log it whole, and unlike anything else in a log.
const logToken = "opaque-token-LOGGED-7f3c1d9e2b4a6c8e0f1a3b5c7d9e1f2a"

// callerLogToken is the application's own token in those tests.
const callerLogToken = "caller-token-CALLER-0a1b2c3d4e5f60718293a4b5c6d7e8f9"

// echoingServer answers as kube-apiserver does, repeating spec.token in
// its answer, or with error answers that quote it.
func echoingServer(t *testing.T, code int) *fakeServer {
	return newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, rv *authenticationv1.TokenReview) {
		if code != http.StatusOK {
			w.Header().Set("Retry-After", "1")
			writeStatus(w, code, "cannot review "+rv.Spec.Token)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		rv.Status = authenticatedAs("u")
		_ = json.NewEncoder(w).Encode(rv)
	})
}

// TestReviewLogsNoTokenAtV10: at the highest verbosity, nothing client-go
// logs for a review holds the token, whatever the server answers.
func TestReviewLogsNoTokenAtV10(t *testing.T) {
	for _, code := range []int{http.StatusOK, http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusBadRequest} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			logs := klogtest.AtV10(t)
			f := echoingServer(t, code)
			cfg := f.config()
			cfg.MaxRetries = -1
			cfg.TokenFile = filepath.Join(t.TempDir(), "token")
			writeFile(t, cfg.TokenFile, callerLogToken)
			c := newClient(t, cfg)

			_, err := c.Review(ctxTimeout(t, 30*time.Second), logToken)

			if err != nil && strings.Contains(err.Error(), "LOGGED") {
				t.Errorf("got error %q, which quotes the token", err)
			}
			if out := logs.String(); strings.Contains(out, "LOGGED") || strings.Contains(out, "CALLER") {
				t.Errorf("got a log that quotes the token or the caller's token:\n%s", out)
			}
			if got := f.lastBearer(); got != callerLogToken {
				t.Errorf("got bearer %q, want the caller token", got)
			}
		})
	}
}

// TestClientGoRESTLogsToken is the control for the tests here: client-go's
// own REST request, which the client does not use, logs a review's token
// at -v=10 with the same transport, so the capture works and posting the
// review itself is what keeps the log clean.
func TestClientGoRESTLogsToken(t *testing.T) {
	logs := klogtest.AtV10(t)
	f := echoingServer(t, http.StatusOK)
	rc := &rest.Config{Host: f.URL, TLSClientConfig: rest.TLSClientConfig{CAFile: f.caFile}}
	rc.NegotiatedSerializer = codecs.WithoutConversion()
	rs, err := rest.UnversionedRESTClientFor(rc)
	if err != nil {
		t.Fatal(err)
	}
	review := &authenticationv1.TokenReview{TypeMeta: metaTokenReview, Spec: authenticationv1.TokenReviewSpec{Token: logToken}}

	err = rs.Post().AbsPath(ReviewPath).Body(review).Do(context.Background()).Error()

	if err != nil {
		t.Fatal(err)
	}
	if out := logs.String(); !strings.Contains(out, "LOGGED") {
		t.Errorf("got no token in client-go's own log at -v=10, want it there (else the tests here prove nothing):\n%s", out)
	}
}

// TestNoTokenLoggedWithoutContextualLogging: a client built and used
// while klog's contextual logging is off logs through klog's global logger
// at -v=10, and none of it holds the token, though the server echoes it in
// its status line, a header, the Content-Type and the body.
func TestNoTokenLoggedWithoutContextualLogging(t *testing.T) {
	logs := klogtest.AtV10(t)
	klog.EnableContextualLogging(false)
	defer klog.EnableContextualLogging(true)
	f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, rv *authenticationv1.TokenReview) {
		rv.Status = authenticatedAs("u")
		body, _ := json.Marshal(rv)
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		tok := rv.Spec.Token
		fmt.Fprintf(buf, "HTTP/1.1 200 OK %s\r\nX-Echo: %s\r\nContent-Type: application/json; echo=%s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", tok, tok, tok, len(body), body)
		_ = buf.Flush()
	})
	c := newClient(t, f.config())

	res, err := c.Review(ctxTimeout(t, 30*time.Second), logToken)

	if err != nil || res.User.GetName() != "u" {
		t.Fatalf("got (%v, %v), want user u", res, err)
	}
	out := logs.String()
	if strings.Contains(out, "LOGGED") {
		t.Errorf("got a log that quotes the token:\n%s", out)
	}
	if !strings.Contains(out, "Response") {
		t.Errorf("got no response logged at -v=10 without contextual logging, want client-go's lines (else this test proves nothing):\n%s", out)
	}
}
