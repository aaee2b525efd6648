package bearer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"syscall"
	"time"
)

// errWithheld stands in for an authenticator's error in the log.
var errWithheld = errors.New("authenticator error (its text is never logged: it may quote the token)")

// maxChain bounds how many errors of a chain are looked at: an error tree
// is the authenticator's, and may be deep.
const maxChain = 16

// maxRetryAfter bounds the Retry-After taken from an authenticator's error.
const maxRetryAfter = time.Hour

// errorInfo is what is logged of an authenticator's error, and the wait it
// asks for. No text of the error is logged: any library under the
// authenticator may quote what it was given, and a token can appear in
// forms no scrubber recognises (URL- or JSON-escaped, base64, cut short).
// What is kept are the Go types along its chain, a fixed word for a
// context or system-call error, and numbers.
type errorInfo struct {
	// types are the dynamic types of the errors along the chain, e.g.
	// *client.UnavailableError, *url.Error, *net.OpError, syscall.Errno.
	types []string
	// cause is a fixed word: "deadline exceeded", "canceled", "timeout",
	// or a system call error's (syscall.Errno, e.g. "connection refused").
	// Empty when none applies.
	cause string
	// code is the first Code int field along the chain (the HTTP status
	// in pkg/client's errors); 0 when none.
	code int64
	// retryAfter is the first positive RetryAfter time.Duration field
	// along the chain, as pkg/client's CallerRefusedError and
	// UnavailableError carry the server's Retry-After; 0 when none.
	retryAfter time.Duration
}

var durationType = reflect.TypeFor[time.Duration]()

func describe(err error) errorInfo {
	var info errorInfo
	n := 0
	var walk func(error)
	walk = func(e error) {
		for e != nil && n < maxChain {
			n++
			info.types = append(info.types, fmt.Sprintf("%T", e))
			if info.code == 0 {
				info.code = intField(e, "Code")
			}
			if info.retryAfter <= 0 {
				info.retryAfter = min(max(time.Duration(intField(e, "RetryAfter", durationType)), 0), maxRetryAfter)
			}
			switch u := e.(type) {
			case interface{ Unwrap() error }:
				e = u.Unwrap()
			case interface{ Unwrap() []error }:
				for _, c := range u.Unwrap() {
					walk(c)
				}
				return
			default:
				return
			}
		}
	}
	walk(err)
	var errno syscall.Errno
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		info.cause = "deadline exceeded"
	case errors.Is(err, context.Canceled):
		info.cause = "canceled"
	case errors.As(err, &errno):
		// A fixed string of the system's table.
		info.cause = errno.Error()
	case errors.As(err, &netErr) && netErr.Timeout():
		info.cause = "timeout"
	}
	return info
}

// keysAndValues is info for a logr line.
func (info errorInfo) keysAndValues() []any {
	kv := []any{"errorTypes", info.types}
	if info.cause != "" {
		kv = append(kv, "cause", info.cause)
	}
	if info.code != 0 {
		kv = append(kv, "code", info.code)
	}
	if info.retryAfter > 0 {
		kv = append(kv, "retryAfter", info.retryAfter.String())
	}
	return kv
}

// intField returns e's exported integer field name (of type want, if
// given), through a pointer, or 0. Errors are duck-typed by their fields
// so that this package need not import pkg/client, which would link
// client-go and protobuf into every application using httpauth.
func intField(e error, name string, want ...reflect.Type) int64 {
	v := reflect.ValueOf(e)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return 0
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return 0
	}
	sf, ok := v.Type().FieldByName(name)
	if !ok || !sf.IsExported() || len(sf.Index) != 1 {
		return 0
	}
	f := v.Field(sf.Index[0])
	if len(want) > 0 && f.Type() != want[0] {
		return 0
	}
	switch f.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return f.Int()
	}
	return 0
}
