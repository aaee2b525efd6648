package upstream

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenfed/tokenfed/pkg/testing/fakeapiserver"
)

// huge is a group far beyond any bound: 16 MiB.
var huge = strings.Repeat("g", 16<<20)

// field is a string of n bytes that quotes nothing.
func field(n int) string { return strings.Repeat("f", n) }

// fields is n copies of field(size).
func fields(n, size int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = field(size)
	}
	return out
}

// userAnswer answers authenticated with u and audiences.
func userAnswer(u authenticationv1.UserInfo, audiences ...string) fakeapiserver.AnswerFunc {
	return fakeapiserver.Answer(authenticationv1.TokenReviewStatus{Authenticated: true, User: u, Audiences: audiences})
}

// withContentLength answers as next would, in one piece with its
// Content-Length announced.
func withContentLength(next fakeapiserver.AnswerFunc) fakeapiserver.AnswerFunc {
	return func(w http.ResponseWriter, r *http.Request, review *authenticationv1.TokenReview) {
		rec := &bufferedAnswer{header: http.Header{}}
		next(rec, r, review)
		copyHeader(w.Header(), rec.header)
		w.Header().Set("Content-Length", strconv.Itoa(rec.body.Len()))
		w.WriteHeader(rec.code)
		_, _ = w.Write(rec.body.Bytes())
	}
}

// gzipped answers as next would, compressed: a small answer on the wire
// that inflates to next's size.
func gzipped(next fakeapiserver.AnswerFunc) fakeapiserver.AnswerFunc {
	return func(w http.ResponseWriter, r *http.Request, review *authenticationv1.TokenReview) {
		rec := &bufferedAnswer{header: http.Header{}}
		next(rec, r, review)
		copyHeader(w.Header(), rec.header)
		w.Header().Set("Content-Encoding", "gzip")
		w.WriteHeader(rec.code)
		zw := gzip.NewWriter(w)
		_, _ = zw.Write(rec.body.Bytes())
		_ = zw.Close()
	}
}

// bufferedAnswer is an http.ResponseWriter that keeps the answer.
type bufferedAnswer struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (b *bufferedAnswer) Header() http.Header         { return b.header }
func (b *bufferedAnswer) WriteHeader(code int)        { b.code = code }
func (b *bufferedAnswer) Write(p []byte) (int, error) { return b.body.Write(p) }

func copyHeader(dst, src http.Header) {
	for k, v := range src {
		dst[k] = v
	}
}

var boundCases = []struct {
	name   string
	answer fakeapiserver.AnswerFunc
	// wantMsg is the whole error; "" wants the answer accepted.
	wantMsg string
}{
	{
		name:    "a 16 MiB group is not read",
		answer:  userAnswer(authenticationv1.UserInfo{Username: "u", Groups: []string{huge}}),
		wantMsg: "token rejected by its cluster: answer is longer than the limit",
	},
	{
		name:    "a 16 MiB answer announced by Content-Length is not read",
		answer:  withContentLength(userAnswer(authenticationv1.UserInfo{Username: "u", Groups: []string{huge}})),
		wantMsg: "token rejected by its cluster: answer is longer than the limit",
	},
	{
		name:    "a compressed answer is bounded as it inflates",
		answer:  gzipped(userAnswer(authenticationv1.UserInfo{Username: "u", Groups: []string{huge}})),
		wantMsg: "token rejected by its cluster: answer is longer than the limit",
	},
	{
		// Reading stops at the bound whatever the status, and a 500 stays
		// a fault of the cluster: only a 2xx answer is about the token.
		name:    "an error answer over the limit is still its status",
		answer:  hugeError,
		wantMsg: "issuer's cluster is unavailable: HTTP 500 Internal Server Error",
	},
	{
		name:    "a username over 4 KiB",
		answer:  userAnswer(authenticationv1.UserInfo{Username: field(maxFieldBytes + 1)}),
		wantMsg: "token rejected by its cluster: answer has a user field longer than 4096 bytes",
	},
	{
		name:    "a UID over 4 KiB",
		answer:  userAnswer(authenticationv1.UserInfo{Username: "u", UID: field(maxFieldBytes + 1)}),
		wantMsg: "token rejected by its cluster: answer has a user field longer than 4096 bytes",
	},
	{
		name:    "a group over 4 KiB",
		answer:  userAnswer(authenticationv1.UserInfo{Username: "u", Groups: []string{"g", field(maxFieldBytes + 1)}}),
		wantMsg: "token rejected by its cluster: answer has a user field longer than 4096 bytes",
	},
	{
		name:    "an extra key over 4 KiB",
		answer:  userAnswer(authenticationv1.UserInfo{Username: "u", Extra: map[string]authenticationv1.ExtraValue{field(maxFieldBytes + 1): {"v"}}}),
		wantMsg: "token rejected by its cluster: answer has a user field longer than 4096 bytes",
	},
	{
		name:    "an extra value over 4 KiB",
		answer:  userAnswer(authenticationv1.UserInfo{Username: "u", Extra: map[string]authenticationv1.ExtraValue{"k": {field(maxFieldBytes + 1)}}}),
		wantMsg: "token rejected by its cluster: answer has a user field longer than 4096 bytes",
	},
	{
		name:    "an audience over 4 KiB",
		answer:  userAnswer(authenticationv1.UserInfo{Username: "u"}, field(maxFieldBytes+1)),
		wantMsg: "token rejected by its cluster: answer has a user field longer than 4096 bytes",
	},
	{
		// Username and UID count: 2 + 1023 values.
		name:    "1025 values",
		answer:  userAnswer(authenticationv1.UserInfo{Username: "u", UID: "i", Groups: fields(maxUserValues-1, 1)}),
		wantMsg: "token rejected by its cluster: answer has more than 1024 user values",
	},
	{
		// 2 + 500 + 1 key + 500 + 22.
		name:    "1025 values, counting extras and audiences",
		answer:  userAnswer(authenticationv1.UserInfo{Username: "u", UID: "i", Groups: fields(500, 1), Extra: map[string]authenticationv1.ExtraValue{"k": fields(500, 1)}}, fields(22, 1)...),
		wantMsg: "token rejected by its cluster: answer has more than 1024 user values",
	},
	{
		name:    "over 64 KiB in all",
		answer:  userAnswer(authenticationv1.UserInfo{Username: "u", Groups: fields(maxUserBytes/maxFieldBytes, maxFieldBytes)}),
		wantMsg: "token rejected by its cluster: answer has more than 65536 bytes of user values",
	},
	{
		name:   "every string at 4 KiB, 64 KiB in all",
		answer: userAnswer(authenticationv1.UserInfo{Username: field(maxFieldBytes), UID: field(maxFieldBytes), Groups: fields(maxUserBytes/maxFieldBytes-2, maxFieldBytes)}),
	},
	{
		// 1024 values of 64 bytes, 64 KiB: 2 + 1022.
		name:   "1024 values",
		answer: userAnswer(authenticationv1.UserInfo{Username: field(64), UID: field(64), Groups: fields(maxUserValues-2, 64)}),
	},
}

func TestReviewBoundsTheAnswer(t *testing.T) {
	for _, tc := range boundCases {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakeapiserver.Start(t, tc.answer)
			c, _ := newTestClient(t, srv, Options{})

			got, err := c.Review(context.Background(), testToken, nil)

			checkNoToken(t, err)
			if tc.wantMsg == "" {
				if err != nil || got == nil {
					t.Fatalf("got %v, %v; want the answer accepted", got, err)
				}
				return
			}
			if err == nil || err.Error() != tc.wantMsg {
				t.Fatalf("got %v, %v; want error %q", got, err, tc.wantMsg)
			}
		})
	}
}

// hugeError is a 500 with a 16 MiB body.
func hugeError(w http.ResponseWriter, _ *http.Request, _ *authenticationv1.TokenReview) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusInternalServerError)
	_ = json.NewEncoder(w).Encode(metav1.Status{Status: metav1.StatusFailure, Message: huge})
}

// The limit is exact: an answer of limit bytes is read whole, one byte
// more fails.
func TestLimitedBody(t *testing.T) {
	const limit = 10
	for n, wantErr := range map[int]error{0: nil, limit - 1: nil, limit: nil, limit + 1: errAnswerTooLarge, 10 * limit: errAnswerTooLarge} {
		body := &limitedBody{body: io.NopCloser(strings.NewReader(strings.Repeat("x", n))), left: limit}
		got, err := io.ReadAll(body)
		if !errors.Is(err, wantErr) {
			t.Errorf("%d bytes: got error %v, want %v", n, err, wantErr)
		}
		if len(got) > limit+1 {
			t.Errorf("%d bytes: got %d read, want at most %d", n, len(got), limit+1)
		}
	}
}
