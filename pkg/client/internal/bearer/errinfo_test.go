package bearer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// refused has the fields of pkg/client's CallerRefusedError.
type refused struct {
	Code       int
	RetryAfter time.Duration
	Message    string
}

func (e *refused) Error() string { return "refused: " + e.Message }

func TestDescribe(t *testing.T) {
	const token = "Sh0rtK3y-abc"
	dial := &url.Error{Op: "Post", URL: "https://tokenfed.example/?t=" + token, Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	for _, tc := range []struct {
		name  string
		err   error
		want  errorInfo
		types []string
	}{
		{
			name:  "caller refused",
			err:   fmt.Errorf("review: %w", &refused{Code: 429, RetryAfter: 60 * time.Second, Message: "over its rate " + token}),
			want:  errorInfo{code: 429, retryAfter: 60 * time.Second},
			types: []string{"*fmt.wrapError", "*bearer.refused"},
		},
		{
			name:  "connection refused",
			err:   dial,
			want:  errorInfo{cause: "connection refused"},
			types: []string{"*url.Error", "*net.OpError", "*os.SyscallError", "syscall.Errno"},
		},
		{
			name:  "deadline",
			err:   fmt.Errorf("asking with %s: %w", token, context.DeadlineExceeded),
			want:  errorInfo{cause: "deadline exceeded"},
			types: []string{"*fmt.wrapError", "context.deadlineExceededError"},
		},
		{
			name:  "joined",
			err:   errors.Join(errors.New(token), &refused{Code: 503, RetryAfter: -time.Second}),
			want:  errorInfo{code: 503},
			types: []string{"*errors.joinError", "*errors.errorString", "*bearer.refused"},
		},
		{
			name:  "a retry after over an hour is an hour",
			err:   &refused{RetryAfter: 48 * time.Hour},
			want:  errorInfo{retryAfter: time.Hour},
			types: []string{"*bearer.refused"},
		},
		{
			name:  "a nil pointer",
			err:   (*refused)(nil),
			types: []string{"*bearer.refused"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := describe(tc.err)
			if !slices.Equal(got.types, tc.types) {
				t.Errorf("got types %q, want %q", got.types, tc.types)
			}
			if got.cause != tc.want.cause || got.code != tc.want.code || got.retryAfter != tc.want.retryAfter {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if s := fmt.Sprint(describe(tc.err).keysAndValues()...); strings.Contains(s, token) {
				t.Errorf("got %q, which holds the token", s)
			}
		})
	}
}

// TestDescribeDeepChain: a chain is read only so far.
func TestDescribeDeepChain(t *testing.T) {
	var err error = errors.New("bottom")
	for range 100 {
		err = fmt.Errorf("wrap: %w", err)
	}
	if got := len(describe(err).types); got != maxChain {
		t.Errorf("got %d types, want %d", got, maxChain)
	}
}
