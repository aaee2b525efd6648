package upstream

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"

	authenticationv1 "k8s.io/api/authentication/v1"
)

// Bounds of what tokenfed takes from a cluster; see the package doc for why
// these numbers.
const (
	// maxAnswerOverhead is how much longer than our request an answer may
	// be. kube-apiserver's answer repeats our spec (token and audiences)
	// and adds a status; 1 MiB is kube-apiserver's own cap on request
	// headers, the most identity it takes in from outside in one request.
	maxAnswerOverhead = 1 << 20
	// maxFieldBytes bounds one username, UID, group, extra key or value, or
	// audience.
	maxFieldBytes = 4 << 10
	// maxUserValues bounds the strings of an answer's user and audiences
	// together.
	maxUserValues = 1024
	// maxUserBytes bounds their total length.
	maxUserBytes = 64 << 10
)

// errAnswerTooLarge ends the reading of an answer longer than its limit.
var errAnswerTooLarge = errors.New("answer is longer than the limit")

// answerLimit bounds what is read of each answer to the request's length
// plus maxAnswerOverhead. client-go reads an answer whole before decoding
// it, so without a bound a cluster decides how much memory a review takes.
// It sits outside the transport, so a compressed answer is counted as it
// decompresses.
type answerLimit struct{ next http.RoundTripper }

func (a answerLimit) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := a.next.RoundTrip(req)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	limit := max(req.ContentLength, 0) + maxAnswerOverhead
	lb := &limitedBody{body: resp.Body, left: limit}
	if resp.ContentLength > limit {
		// Announced too long: refuse without reading any of it.
		lb.left = -1
	}
	resp.Body = lb
	return resp, nil
}

// limitedBody reads up to left bytes, then fails with errAnswerTooLarge
// when there is more.
type limitedBody struct {
	body io.ReadCloser
	left int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, errAnswerTooLarge
	}
	// One byte beyond the limit tells "more" from "exactly at the limit".
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.body.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, errAnswerTooLarge
	}
	return n, err
}

func (l *limitedBody) Close() error { return l.body.Close() }

// checkBounds refuses an authenticated answer whose user or audiences are
// beyond the bounds. It runs before anything else looks at them, so the
// echo check and everything downstream work on bounded input.
func checkBounds(st *authenticationv1.TokenReviewStatus) error {
	values, size := 0, 0
	for f := range answerStrings(st) {
		values++
		size += len(f)
		switch {
		case len(f) > maxFieldBytes:
			return refusal(fmt.Sprintf("answer has a user field longer than %d bytes", maxFieldBytes))
		case values > maxUserValues:
			return refusal(fmt.Sprintf("answer has more than %d user values", maxUserValues))
		case size > maxUserBytes:
			return refusal(fmt.Sprintf("answer has more than %d bytes of user values", maxUserBytes))
		}
	}
	return nil
}

// answerStrings yields every string of an answer that tokenfed keeps.
func answerStrings(st *authenticationv1.TokenReviewStatus) iter.Seq[string] {
	return func(yield func(string) bool) {
		for f := range userStrings(st.User) {
			if !yield(f) {
				return
			}
		}
		for _, a := range st.Audiences {
			if !yield(a) {
				return
			}
		}
	}
}

// userStrings yields every string of u: what goes into tokenfed's answer
// and its logs.
func userStrings(u authenticationv1.UserInfo) iter.Seq[string] {
	return func(yield func(string) bool) {
		if !yield(u.Username) || !yield(u.UID) {
			return
		}
		for _, g := range u.Groups {
			if !yield(g) {
				return
			}
		}
		for k, vs := range u.Extra {
			if !yield(k) {
				return
			}
			for _, v := range vs {
				if !yield(v) {
					return
				}
			}
		}
	}
}
