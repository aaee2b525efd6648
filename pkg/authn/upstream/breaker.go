package upstream

import (
	"errors"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// BreakerOptions tune the circuit breaker.
type BreakerOptions struct {
	// Failures in a row that open the circuit. Default 5.
	Threshold int
	// MinOpen is the first open period; it doubles on each failed probe up
	// to MaxOpen. Defaults 1s and 30s.
	MinOpen, MaxOpen time.Duration
}

type breakerState int

const (
	closed breakerState = iota
	open
	halfOpen
)

// breaker opens after Threshold failures in a row, so an outage costs one
// fast answer instead of a timeout per review. When open it lets one probe
// through every open period (half-open); a success closes it.
type breaker struct {
	opts  BreakerOptions
	clock clock.PassiveClock

	mu        sync.Mutex
	st        breakerState
	failures  int
	openFor   time.Duration
	openUntil time.Time
	probing   bool
}

func newBreaker(opts BreakerOptions, clk clock.PassiveClock) *breaker {
	if opts.Threshold == 0 {
		opts.Threshold = 5
	}
	if opts.MinOpen == 0 {
		opts.MinOpen = time.Second
	}
	if opts.MaxOpen == 0 {
		opts.MaxOpen = 30 * time.Second
	}
	return &breaker{opts: opts, clock: clk}
}

// allow reports whether a call may go out, and whether it is the one
// probe of a half-open circuit.
func (b *breaker) allow() (ok, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.st == closed {
		return true, false
	}
	if b.probing || b.clock.Now().Before(b.openUntil) {
		return false, false
	}
	b.st, b.probing = halfOpen, true
	return true, true
}

// release undoes allow for a call that never went out.
func (b *breaker) release(probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
	}
}

// record counts a call's outcome. Only faults of the cluster count: a 4xx
// other than 429 is our request's problem, not an outage. While the
// circuit is not closed only the probe's outcome counts: calls that left
// before it opened say nothing new, and must not push the reopening out
// (ten timeouts landing together would otherwise double it ten times).
func (b *breaker) record(err error, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.st != closed && !probe {
		return
	}
	b.probing = false
	if !isFault(err) {
		b.st, b.failures, b.openFor = closed, 0, 0
		return
	}
	b.failures++
	if probe || b.failures >= b.opts.Threshold {
		b.failures = 0
		b.trip(hint(err))
	}
}

func (b *breaker) trip(hint time.Duration) {
	b.openFor = min(max(b.openFor*2, b.opts.MinOpen), b.opts.MaxOpen)
	wait := max(b.openFor, min(hint, b.opts.MaxOpen))
	b.st, b.openUntil = open, b.clock.Now().Add(wait)
}

func (b *breaker) state() breakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.st
}

// isFault: a failed call counts against the cluster unless its HTTP status
// says our request was at fault.
func isFault(err error) bool {
	if err == nil {
		return false
	}
	var ce *callError
	if errors.As(err, &ce) {
		return ce.fault
	}
	return true
}

// hint is the Retry-After a failed call carried.
func hint(err error) time.Duration {
	var ce *callError
	if errors.As(err, &ce) {
		return ce.retryAfter
	}
	return 0
}
