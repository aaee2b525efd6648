package httpauth_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/tokenfed/tokenfed/pkg/client"
	"github.com/tokenfed/tokenfed/pkg/client/httpauth"
	"github.com/tokenfed/tokenfed/pkg/client/internal/bearer"
)

// logBuffer is a logger at every verbosity that keeps what it is given.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) options(opts httpauth.Options) httpauth.Options {
	logger := funcr.New(func(prefix, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.b.WriteString(prefix + args + "\n")
	}, funcr.Options{Verbosity: 10})
	opts.Logger = &logger
	return opts
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAcceptedWithoutAnIdentityIs500: an authenticator that accepts a
// token with an answer that is not an identity has a bug. No answer, no
// user, a nil user, a user without a name, the anonymous user, or an
// answer that quotes the token is answered 500, the handler does not run,
// and the log says why without the token or the answer.
func TestAcceptedWithoutAnIdentityIs500(t *testing.T) {
	const (
		aud   = "https://orders.example"
		token = "opaque-token-for-the-answer-test"
	)
	named := func(name string, groups ...string) user.Info { return &user.DefaultInfo{Name: name, Groups: groups} }
	for _, tc := range []struct {
		name string
		resp func(auds authenticator.Audiences) *authenticator.Response
	}{
		{"no answer", func(authenticator.Audiences) *authenticator.Response { return nil }},
		{"no user", func(auds authenticator.Audiences) *authenticator.Response {
			return &authenticator.Response{Audiences: auds}
		}},
		{"a nil *DefaultInfo", func(auds authenticator.Audiences) *authenticator.Response {
			return &authenticator.Response{User: (*user.DefaultInfo)(nil), Audiences: auds}
		}},
		{"empty name, with groups", func(auds authenticator.Audiences) *authenticator.Response {
			return &authenticator.Response{User: named("", "admins"), Audiences: auds}
		}},
		{"blank name", func(auds authenticator.Audiences) *authenticator.Response {
			return &authenticator.Response{User: named(" \t"), Audiences: auds}
		}},
		{"the anonymous user", func(auds authenticator.Audiences) *authenticator.Response {
			return &authenticator.Response{User: named(user.Anonymous), Audiences: auds}
		}},
		{"in the unauthenticated group", func(auds authenticator.Audiences) *authenticator.Response {
			return &authenticator.Response{User: named("guest", user.AllUnauthenticated), Audiences: auds}
		}},
		{"the name quotes the token", func(auds authenticator.Audiences) *authenticator.Response {
			return &authenticator.Response{User: named("token:" + token), Audiences: auds}
		}},
		{"a group quotes 8 bytes of the token", func(auds authenticator.Audiences) *authenticator.Response {
			return &authenticator.Response{User: named("alice", "g:"+token[6:14]), Audiences: auds}
		}},
		{"an extra quotes the token", func(auds authenticator.Audiences) *authenticator.Response {
			return &authenticator.Response{User: &user.DefaultInfo{Name: "alice", Extra: map[string][]string{"raw": {token}}}, Audiences: auds}
		}},
		{"the audiences quote the token", func(auds authenticator.Audiences) *authenticator.Response {
			return &authenticator.Response{User: named("alice"), Audiences: append(auds, token)}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth := authenticator.TokenFunc(func(ctx context.Context, _ string) (*authenticator.Response, bool, error) {
				auds, _ := authenticator.AudiencesFrom(ctx)
				return tc.resp(auds), true, nil
			})
			var log logBuffer
			mw, err := httpauth.New(log.options(httpauth.Options{Authenticator: auth, Audiences: []string{aud}}))
			if err != nil {
				t.Fatal(err)
			}
			var ran bool
			var name string
			h := mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ran = true
				if u, ok := request.UserFrom(r.Context()); ok {
					name = u.GetName()
				}
			}))
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Authorization", "Bearer "+token)
			w := httptest.NewRecorder()

			h.ServeHTTP(w, r)

			if ran || w.Code != http.StatusInternalServerError {
				t.Fatalf("got status %d, handler ran: %v (user %q); want 500 and no handler", w.Code, ran, name)
			}
			got := log.String()
			if !strings.Contains(got, "its answer is not an identity") {
				t.Errorf("got log %q, want it to say the answer is not an identity", got)
			}
			if bearer.Quotes(got, token) {
				t.Errorf("got a log of %d bytes that quotes the token", len(got))
			}
		})
	}
}

// TestAuthenticatorErrorTextIsNeverLogged: the text of an authenticator's
// error may quote the token, whole, in part, or escaped; none of it is
// logged, whatever the token's length (one byte up). Its Go types are.
func TestAuthenticatorErrorTextIsNeverLogged(t *testing.T) {
	for _, token := range []string{"Z", "Zq9X7", "Sh0rtK3y", "Sh0rtK3y-abc", "a+b/c+d/e+f/g+h/i+j/k+l/m+n/o+p", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl"} {
		for _, err := range []error{
			errors.New("upstream refused token " + token),
			fmt.Errorf("review: %w", &url.Error{Op: "Get", URL: "https://idp.example/introspect?token=" + url.QueryEscape(token), Err: errors.New("EOF")}),
			fmt.Errorf("bad token %q (prefix %s)", token, token[:len(token)/2]),
		} {
			auth := authenticator.TokenFunc(func(context.Context, string) (*authenticator.Response, bool, error) { return nil, false, err })
			var log logBuffer
			mw, nerr := httpauth.New(log.options(httpauth.Options{Authenticator: auth, Audiences: []string{"https://orders.example"}}))
			if nerr != nil {
				t.Fatal(nerr)
			}
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Authorization", "Bearer "+token)
			w := httptest.NewRecorder()

			mw.Wrap(http.NotFoundHandler()).ServeHTTP(w, r)

			got := log.String()
			if w.Code != http.StatusServiceUnavailable {
				t.Errorf("%d-byte token: got status %d, want 503", len(token), w.Code)
			}
			if bearer.Quotes(got, token) || strings.Contains(got, url.QueryEscape(token)) || strings.Contains(got, "upstream refused") {
				t.Errorf("%d-byte token: got log %q, which holds the error's text", len(token), got)
			}
			if !strings.Contains(got, `"errorTypes"=[`) {
				t.Errorf("%d-byte token: got log %q, want the error's types", len(token), got)
			}
		}
	}
}

// fakeTokenfed is a TLS server that authenticates the token good, says
// every other token is not valid, and answers 429 with Retry-After 60 once
// it has answered rate reviews (the app's rate at tokenfed), as tokenfed
// does for a caller over its rate. It returns a client of it and the count
// of reviews answered.
func fakeTokenfed(t *testing.T, good string, rate int64) (*client.Client, *atomic.Int64) {
	t.Helper()
	var reviews atomic.Int64
	tf := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rv authenticationv1.TokenReview
		_ = json.NewDecoder(r.Body).Decode(&rv)
		w.Header().Set("Content-Type", "application/json")
		if reviews.Add(1) > rate {
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(http.StatusTooManyRequests)
			_ = json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "this caller is over its rate limit", "code": 429})
			return
		}
		st := authenticationv1.TokenReviewStatus{Error: "invalid token"}
		if rv.Spec.Token == good {
			st = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "edge:alice"}, Audiences: rv.Spec.Audiences}
		}
		_ = json.NewEncoder(w).Encode(authenticationv1.TokenReview{TypeMeta: metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "TokenReview"}, Status: st})
	}))
	t.Cleanup(tf.Close)
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tf.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Server: tf.URL, CAFile: caFile, Cache: client.CacheConfig{MaxEntries: 1024}})
	if err != nil {
		t.Fatal(err)
	}
	return c, &reviews
}

// goodToken is shaped as a service-account token is, so that a client
// that refuses impossible tokens locally still asks about it.
const goodToken = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJodHRwczovL2h1Yi5leGFtcGxlIiwic3ViIjoiYWxpY2UiLCJleHAiOjQxMDI0NDQ4MDB9.Z29vZC1zaWduYXR1cmUtb2YtYWxpY2U"

// madeUp is the i-th made-up token of an attacker: every one different, so
// that no cache of not-authenticated answers saves a review.
func madeUp(i int) string {
	return "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJtYWxsb3J5In0.bWFkZS11cC" + strconv.Itoa(1000+i)
}

func serve(h http.Handler, remoteAddr, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = remoteAddr
	r.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestClientLimitStopsMadeUpTokens: with a ClientLimit, a client that
// sends made-up tokens has at most Burst of them reviewed; its further
// requests are answered 429 with Retry-After, and cost the app nothing at
// tokenfed, so the app's rate there is left for real users, who are
// answered as before.
func TestClientLimitStopsMadeUpTokens(t *testing.T) {
	const (
		aud      = "https://orders.example"
		appRate  = 5
		burst    = 2
		attacker = "192.0.2.66:40000"
		realUser = "198.51.100.7:50000"
	)
	c, reviews := fakeTokenfed(t, goodToken, appRate)
	mw, err := httpauth.New(httpauth.Options{Authenticator: c, Audiences: []string{aud}, ClientLimit: &httpauth.ClientLimit{Rate: 0.01, Burst: burst}})
	if err != nil {
		t.Fatal(err)
	}
	h := mw.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))

	codes := map[int]int{}
	for i := range 3 * appRate {
		w := serve(h, attacker, madeUp(i))
		codes[w.Code]++
		if w.Code == http.StatusTooManyRequests {
			if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra < 1 {
				t.Errorf("got 429 with Retry-After %q, want whole seconds", w.Header().Get("Retry-After"))
			}
		}
	}
	spent := reviews.Load()
	code := serve(h, realUser, goodToken).Code

	if codes[http.StatusUnauthorized] > burst || spent > burst {
		t.Errorf("got %d of the attacker's tokens refused as invalid (%d reviews), want at most Burst=%d", codes[http.StatusUnauthorized], spent, burst)
	}
	if want := 3*appRate - codes[http.StatusUnauthorized]; codes[http.StatusTooManyRequests] != want {
		t.Errorf("got answers %v to the attacker, want the rest (%d) 429", codes, want)
	}
	if code != http.StatusOK {
		t.Fatalf("after %d made-up tokens (%d reviews), a real user's valid token got HTTP %d, want 200", 3*appRate, spent, code)
	}
}

// TestCallerRefusedKeepsTokenfedsRetryAfter: when tokenfed refuses the
// app as over its rate (429, Retry-After 60), nothing is known about the
// token: every request is answered 503, with tokenfed's Retry-After rather
// than Options.RetryAfter, so that clients come back when the app's rate
// has refilled, not every second until then.
func TestCallerRefusedKeepsTokenfedsRetryAfter(t *testing.T) {
	c, _ := fakeTokenfed(t, goodToken, 0)
	mw, err := httpauth.New(httpauth.Options{Authenticator: c, Audiences: []string{"https://orders.example"}, RetryAfter: time.Second})
	if err != nil {
		t.Fatal(err)
	}

	w := serve(mw.Wrap(http.NotFoundHandler()), "192.0.2.1:1234", goodToken)

	ra, _ := strconv.Atoi(w.Header().Get("Retry-After"))
	// At most 60: a client may count down the wait it was given.
	if w.Code != http.StatusServiceUnavailable || ra < 30 || ra > 60 {
		t.Fatalf("got HTTP %d with Retry-After %q, want 503 with tokenfed's 60", w.Code, w.Header().Get("Retry-After"))
	}
}
