package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/utils/clock"

	"github.com/tokenfed/tokenfed/pkg/authn/cache"
)

// newCache is tokenfed's own result cache (pkg/authn/cache) in front of
// ask: entries keyed by an HMAC of the audiences and the token with a
// per-process random key, an LRU bound, concurrent identical misses
// coalesced into one review, and a success TTL capped at the token's exp.
// Authenticated answers are kept for TTL, not-authenticated ones for
// FailureTTL in a segment of their own (so a flood of made-up tokens
// evicts no authenticated answer); errors never. The shared review runs
// detached from the first caller's context (see cache.Cache), so timeout
// bounds it.
func newCache(cfg CacheConfig, clk clock.PassiveClock, timeout time.Duration, ask askFunc) *cache.Cache {
	next := func(ctx context.Context, token string) cache.Result {
		auds, _ := authenticator.AudiencesFrom(ctx)
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		resp, err := ask(ctx, token, auds)
		if err != nil {
			return cache.Result{Err: err, NoCache: !errors.Is(err, ErrNotAuthenticated)}
		}
		exp, ok := peekExpiry(token)
		return cache.Result{Response: resp, OK: true, Expiry: exp, NoCache: !ok}
	}
	return cache.New(next, cache.Options{SuccessTTL: cfg.TTL, FailureTTL: cfg.FailureTTL, MaxEntries: cfg.MaxEntries, Clock: clk})
}

// cached answers from the cache, or waits for the (shared) review until
// ctx ends.
func (c *Client) cached(ctx context.Context, token string, auds []string) (*authenticator.Response, error) {
	if resp, ok := c.cache.LookupAuthenticated(auds, token); ok {
		return resp, nil
	}
	type outcome struct {
		resp *authenticator.Response
		err  error
	}
	done := make(chan outcome, 1)
	go func() {
		resp, _, err := c.cache.AuthenticateToken(authenticator.WithAudiences(ctx, auds), token)
		done <- outcome{resp, err}
	}()
	select {
	case o := <-done:
		// A cached rejection is shared: each caller gets its own copy.
		if na, ok := o.err.(*NotAuthenticatedError); ok {
			cp := *na
			return nil, &cp
		}
		return o.resp, o.err
	case <-ctx.Done():
		return nil, &UnavailableError{Reason: "no answer", cause: ctx.Err()}
	}
}

// peekExpiry reads exp from a JWT's payload, without verifying anything:
// it is only called once tokenfed has authenticated the token, and only
// caps how long the answer is reused. ok is false when the answer must not
// be cached: a token shaped like a JWT (three dot-separated segments)
// whose payload is not a JSON object with, if any, a numeric exp. Any other
// token is opaque: zero time, ok, and the TTL alone applies; so does a JWT
// without exp.
func peekExpiry(token string) (exp time.Time, ok bool) {
	segs := strings.Split(token, ".")
	if len(segs) != 3 {
		return time.Time{}, true
	}
	payload, err := base64.RawURLEncoding.DecodeString(segs[1])
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp *json.Number `json:"exp"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		return time.Time{}, false
	}
	if claims.Exp == nil {
		return time.Time{}, true
	}
	secs, err := claims.Exp.Float64()
	if err != nil || math.IsNaN(secs) || secs > math.MaxInt64/1e9 || secs < 0 {
		return time.Time{}, false
	}
	whole, frac := math.Modf(secs)
	return time.Unix(int64(whole), int64(frac*1e9)), true
}
