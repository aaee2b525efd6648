package upstream

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/tokenfed/tokenfed/pkg/testing/fakeapiserver"
)

var reviewCases = []struct {
	name      string
	audiences []string
	answer    fakeapiserver.AnswerFunc
	want      *authenticator.Response
	wantErr   error
	// wantMsg is the whole error message.
	wantMsg string
}{
	{
		name:      "authenticated: user mapped, system:authenticated dropped, extras copied",
		audiences: []string{"https://issuer.test", "tokenfed.io/loop-guard"},
		answer: fakeapiserver.Answer(authenticationv1.TokenReviewStatus{
			Authenticated: true,
			User: authenticationv1.UserInfo{
				Username: "system:serviceaccount:ns:sa", UID: "sa-uid",
				Groups: []string{"system:serviceaccounts", user.AllAuthenticated, "system:serviceaccounts:ns"},
				Extra: map[string]authenticationv1.ExtraValue{
					"authentication.kubernetes.io/pod-name": {"web-0"},
					"authentication.kubernetes.io/pod-uid":  {"pod-uid"},
				},
			},
			Audiences: []string{"https://issuer.test", "tokenfed.io/loop-guard"},
		}),
		want: &authenticator.Response{
			Audiences: authenticator.Audiences{"https://issuer.test", "tokenfed.io/loop-guard"},
			User: &user.DefaultInfo{
				Name: "system:serviceaccount:ns:sa", UID: "sa-uid",
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:ns"},
				Extra: map[string][]string{
					"authentication.kubernetes.io/pod-name": {"web-0"},
					"authentication.kubernetes.io/pod-uid":  {"pod-uid"},
				},
			},
		},
	},
	{
		name:   "authenticated with no audiences, groups or extras",
		answer: answerAuthenticated,
		want: &authenticator.Response{
			User: &user.DefaultInfo{Name: "system:serviceaccount:ns:sa", UID: "sa-uid"},
		},
	},
	{
		name:      "unauthenticated: rejected in fixed words, not the cluster's",
		audiences: []string{"api"},
		answer:    fakeapiserver.Answer(authenticationv1.TokenReviewStatus{Error: "token has been invalidated"}),
		wantErr:   ErrRejected,
		wantMsg:   "token rejected by its cluster",
	},
	{
		name:    "unauthenticated without a reason",
		answer:  fakeapiserver.Answer(authenticationv1.TokenReviewStatus{}),
		wantErr: ErrRejected,
		wantMsg: "token rejected by its cluster",
	},
	{
		name:    "a reason quoting the token is dropped",
		answer:  fakeapiserver.Answer(authenticationv1.TokenReviewStatus{Error: "bad token " + testToken}),
		wantErr: ErrRejected,
		wantMsg: "token rejected by its cluster",
	},
	{
		name: "a user quoting the token is refused",
		answer: fakeapiserver.Answer(authenticationv1.TokenReviewStatus{
			Authenticated: true, User: authenticationv1.UserInfo{Username: "u", Extra: map[string]authenticationv1.ExtraValue{"x": {"sig=" + testToken[len(testToken)-20:]}}},
		}),
		wantErr: ErrRejected,
		wantMsg: "token rejected by its cluster: answer quoted the token",
	},
	{
		// A webhook that hands the bearer token on to admission, encoded.
		name: "a user quoting the token in base64 is refused",
		answer: fakeapiserver.Answer(authenticationv1.TokenReviewStatus{
			Authenticated: true, User: authenticationv1.UserInfo{Username: "u", Extra: map[string]authenticationv1.ExtraValue{"example.com/access-token": {base64.StdEncoding.EncodeToString([]byte(testToken))}}},
		}),
		wantErr: ErrRejected,
		wantMsg: "token rejected by its cluster: answer quoted the token",
	},
	{
		name:    "413 from the cluster rejects the token",
		answer:  fakeapiserver.APIStatus(http.StatusRequestEntityTooLarge, metav1.StatusReasonRequestEntityTooLarge, 0),
		wantErr: ErrRejected,
		wantMsg: "token rejected by its cluster: HTTP 413 Request Entity Too Large",
	},
	{
		name:    "403 from the cluster refuses tokenfed's credential, neither a rejection nor unavailable",
		answer:  fakeapiserver.APIStatus(http.StatusForbidden, metav1.StatusReasonForbidden, 0),
		wantErr: ErrCredentialRefused,
		wantMsg: "issuer's cluster refuses tokenfed's credential: HTTP 403 Forbidden",
	},
	{
		name:    "500 as plain text",
		answer:  fakeapiserver.Text(http.StatusInternalServerError, ""),
		wantErr: ErrUnavailable,
		wantMsg: "issuer's cluster is unavailable: HTTP 500 Internal Server Error",
	},
	{
		name:    "500 as plain text quoting the token",
		answer:  answerQuoting(http.StatusInternalServerError, "text/plain", "cannot review %s"),
		wantErr: ErrUnavailable,
		wantMsg: "issuer's cluster is unavailable: HTTP 500 Internal Server Error",
	},
	{
		name:    "a Status whose reason and code are the cluster's inventions",
		answer:  answerQuoting(http.StatusBadGateway, "application/json", `{"kind":"Status","apiVersion":"v1","status":"Failure","code":200,"reason":"%[1]s","message":"%[1]s"}`),
		wantErr: ErrUnavailable,
		wantMsg: "issuer's cluster is unavailable: HTTP 502 Bad Gateway",
	},
	{
		name: "200 with a body that is not a TokenReview",
		answer: func(w http.ResponseWriter, _ *http.Request, _ *authenticationv1.TokenReview) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte("{not json"))
		},
		wantErr: ErrUnavailable,
		wantMsg: "issuer's cluster is unavailable: undecodable answer",
	},
	{
		// apimachinery's decode errors quote the body: here
		// `no kind "<token>" is registered for version "v1"`.
		name:    "201 with a body whose kind is the token",
		answer:  answerQuoting(http.StatusCreated, "application/json", `{"apiVersion":"v1","kind":%q}`),
		wantErr: ErrUnavailable,
		wantMsg: "issuer's cluster is unavailable: undecodable answer",
	},
	{
		name:    "a Failure Status in a 200",
		answer:  answerQuoting(http.StatusOK, "application/json", `{"kind":"Status","apiVersion":"v1","status":"Failure","code":500,"message":"%s"}`),
		wantErr: ErrUnavailable,
		wantMsg: "issuer's cluster is unavailable: undecodable answer",
	},
	{
		name:    "an unparsable Content-Type",
		answer:  answerQuoting(http.StatusCreated, "application/json; %s", "%s"),
		wantErr: ErrUnavailable,
		wantMsg: "issuer's cluster is unavailable: undecodable answer",
	},
}

func TestReview(t *testing.T) {
	for _, tc := range reviewCases {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakeapiserver.Start(t, tc.answer)
			c, _ := newTestClient(t, srv, Options{})

			got, err := c.Review(context.Background(), testToken, tc.audiences)

			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("got error %v, want %v", err, tc.wantErr)
			}
			if err != nil && tc.wantMsg != "" && err.Error() != tc.wantMsg {
				t.Errorf("got error %q, want %q", err, tc.wantMsg)
			}
			checkNoToken(t, err)
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
			reqs := srv.Requests()
			if len(reqs) != 1 {
				t.Fatalf("got %d requests, want 1", len(reqs))
			}
			sent := reqs[0]
			if sent.Review.Spec.Token != testToken {
				t.Errorf("got token %q sent, want the reviewed token", sent.Review.Spec.Token)
			}
			if diff := cmp.Diff(tc.audiences, sent.Review.Spec.Audiences, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("sent audiences (-want +got):\n%s", diff)
			}
			if want := "Bearer " + fakeapiserver.Credential; sent.Authorization != want {
				t.Errorf("got Authorization %q, want %q", sent.Authorization, want)
			}
			if sent.UserAgent != "tokenfed" {
				t.Errorf("got User-Agent %q, want tokenfed", sent.UserAgent)
			}
		})
	}
}

// A redirect would carry the token to a server nobody configured.
func TestReviewRefusesRedirects(t *testing.T) {
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			elsewhere := fakeapiserver.Start(t, answerAuthenticated)
			srv := fakeapiserver.Start(t, func(w http.ResponseWriter, r *http.Request, _ *authenticationv1.TokenReview) {
				http.Redirect(w, r, elsewhere.URL+fakeapiserver.Path, code)
			})
			c, _ := newTestClient(t, srv, Options{})
			// The client trusts both servers' certificates (httptest shares
			// one), so only the redirect policy keeps the token home.
			got, err := c.Review(context.Background(), testToken, nil)

			if want := fmt.Sprintf("issuer's cluster is unavailable: HTTP %d", code); !errors.Is(err, ErrUnavailable) || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("got %v, %v; want ErrUnavailable: %s", got, err, want)
			}
			checkNoToken(t, err)
			if n := elsewhere.Hits.Load(); n != 0 {
				t.Errorf("got %d requests at the redirect target, want 0", n)
			}
			if n := srv.Hits.Load(); n != 1 {
				t.Errorf("got %d requests at the configured server, want 1", n)
			}
		})
	}
}

func TestReviewTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := fakeapiserver.Start(t, func(_ http.ResponseWriter, r *http.Request, _ *authenticationv1.TokenReview) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release) // runs before the server's Close
	c, _ := newTestClient(t, srv, Options{Timeout: 50 * time.Millisecond})

	_, err := c.Review(context.Background(), testToken, nil)

	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want an error wrapping ErrUnavailable", err)
	}
	if want := "issuer's cluster is unavailable: timed out"; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	checkNoToken(t, err)
}

func TestReviewFailsFastBeyondMaxConcurrent(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	srv := fakeapiserver.Start(t, func(w http.ResponseWriter, r *http.Request, review *authenticationv1.TokenReview) {
		arrived <- struct{}{}
		<-release
		answerAuthenticated(w, r, review)
	})
	c, m := newTestClient(t, srv, Options{MaxConcurrent: 2})

	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := c.Review(context.Background(), testToken, nil)
			errs <- err
		}()
	}
	<-arrived
	<-arrived

	_, err := c.Review(context.Background(), testToken, nil)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "too many reviews in flight") {
		t.Errorf("got %v, want ErrUnavailable: too many reviews in flight", err)
	}
	checkNoToken(t, err)
	if n := srv.Hits.Load(); n != 2 {
		t.Errorf("got %d requests, want 2", n)
	}
	if got := counter(t, m, "busy"); got != 1 {
		t.Errorf("got %v busy reviews counted, want 1", got)
	}

	close(release)
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("got %v from a blocked review, want success", err)
		}
	}
	// The slots are free again.
	go func() { <-arrived }()
	if _, err := c.Review(context.Background(), testToken, nil); err != nil {
		t.Errorf("got %v after the slots freed, want success", err)
	}
}

// TestReviewIsNotRateLimitedByClientGo: client-go's default token bucket
// (5/s, burst 10) must not throttle upstream reviews; 50 in a row take
// nowhere near the 8s it would impose.
func TestReviewIsNotRateLimitedByClientGo(t *testing.T) {
	srv := fakeapiserver.Start(t, fakeapiserver.Answer(authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "u"}}))
	c, _ := newTestClient(t, srv, Options{Timeout: 5 * time.Second, MaxConcurrent: 4})
	start := time.Now()
	for range 50 {
		if _, err := c.Review(context.Background(), "tok", nil); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("50 reviews took %s, want well under the 8s a 5/s limiter would impose", d)
	}
}

// statusCases: which HTTP statuses of the cluster reject the token (the
// review itself is refused: the caller's doing), which refuse tokenfed's
// credential, and which make the cluster unavailable (tokenfed's endpoint
// or the cluster's load).
var statusCases = []struct {
	code    int
	wantErr error
}{
	{http.StatusBadRequest, ErrRejected},
	{http.StatusConflict, ErrRejected},
	{http.StatusGone, ErrRejected},
	{http.StatusRequestEntityTooLarge, ErrRejected},
	{http.StatusRequestURITooLong, ErrRejected},
	{http.StatusUnprocessableEntity, ErrRejected},
	{http.StatusRequestHeaderFieldsTooLarge, ErrRejected},
	{http.StatusUnauthorized, ErrCredentialRefused},
	{http.StatusForbidden, ErrCredentialRefused},
	{http.StatusNotFound, ErrUnavailable},
	{http.StatusMethodNotAllowed, ErrUnavailable},
	{http.StatusNotAcceptable, ErrUnavailable},
	{http.StatusRequestTimeout, ErrUnavailable},
	{http.StatusUnsupportedMediaType, ErrUnavailable},
	{http.StatusMisdirectedRequest, ErrUnavailable},
	{http.StatusTooManyRequests, ErrUnavailable},
	{http.StatusInternalServerError, ErrUnavailable},
	{http.StatusServiceUnavailable, ErrUnavailable},
}

func TestReviewHTTPStatus(t *testing.T) {
	for _, tc := range statusCases {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			srv := fakeapiserver.Start(t, fakeapiserver.Text(tc.code, ""))
			c, _ := newTestClient(t, srv, Options{})

			_, err := c.Review(context.Background(), testToken, nil)

			want := fmt.Sprintf("%v: HTTP %d %s", tc.wantErr, tc.code, http.StatusText(tc.code))
			if err == nil || err.Error() != want {
				t.Fatalf("got %v, want %s", err, want)
			}
			if n := wrapsCount(err, ErrRejected, ErrCredentialRefused, ErrUnavailable); n != 1 {
				t.Errorf("got %v wrapping %d of ErrRejected, ErrCredentialRefused and ErrUnavailable, want exactly %v", err, n, tc.wantErr)
			}
		})
	}
}

// TestReviewOversizedByTheCallerIsRejected: a review within tokenfed's 1 MiB
// body limit whose audience client-go escapes sixfold ('<' is \u003c) is
// over kube-apiserver's 3 MiB request limit. Its 413 rejects the token: a
// 503 would have a calling kube-apiserver retry it five times.
func TestReviewOversizedByTheCallerIsRejected(t *testing.T) {
	const kubeAPIServerLimit = 3 << 20 // --max-resource-write-bytes
	srv := fakeapiserver.Start(t, func(w http.ResponseWriter, r *http.Request, review *authenticationv1.TokenReview) {
		if r.ContentLength > kubeAPIServerLimit {
			fakeapiserver.APIStatus(http.StatusRequestEntityTooLarge, metav1.StatusReasonRequestEntityTooLarge, 0)(w, r, review)
			return
		}
		answerAuthenticated(w, r, review)
	})
	c, _ := newTestClient(t, srv, Options{})

	_, err := c.Review(context.Background(), testToken, []string{strings.Repeat("<", 1<<20-4096)})

	if !errors.Is(err, ErrRejected) || errors.Is(err, ErrUnavailable) {
		t.Errorf("got %v, want ErrRejected and not ErrUnavailable", err)
	}
	if n := srv.Hits.Load(); n != 1 {
		t.Errorf("got %d requests, want 1", n)
	}
}

// wrapsCount is how many of targets err wraps.
func wrapsCount(err error, targets ...error) int {
	n := 0
	for _, target := range targets {
		if errors.Is(err, target) {
			n++
		}
	}
	return n
}
