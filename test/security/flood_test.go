package security

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
)

const (
	floodCooldown = 2 * time.Second
	floodFor      = 3 * time.Second
	// A burst of burstSize tokens with random kids at once, then a wave of
	// waveSize every waveEvery until floodFor has passed.
	burstSize = 200
	waveSize  = 50
	waveEvery = 500 * time.Millisecond
)

// TestUnknownKidFlood: tokens with random kids (valid issuer and claims)
// make tokenfed refetch the JWKS at most once per UnknownKidCooldown, all
// of them are refused, and valid tokens are accepted throughout.
func TestUnknownKidFlood(t *testing.T) {
	iss := newFakeIssuer(t)
	tf := startTokenfed(t, edgeConfig(iss, v1alpha1.Fetch{
		UnknownKidCooldown: duration(floodCooldown),
		// No background refresh during the test: every fetch counted below
		// was caused by an unknown kid.
		MinRefresh: duration(time.Hour),
		MaxRefresh: duration(time.Hour),
	}))
	initial := iss.hitCount(jwksPath)
	if initial != 1 {
		t.Fatalf("got %d JWKS fetches after start, want 1 (the initial load)", initial)
	}
	// Everything is signed first, so that the flood is paced by tokenfed.
	waves := int(floodFor / waveEvery)
	random := make([]string, burstSize+waves*waveSize)
	for i := range random {
		random[i], _ = iss.token(t, es256.withKid(randomID()))
	}
	valid := make([]validToken, 200)
	for i := range valid {
		valid[i].token, valid[i].jti = iss.token(t, []signer{rs256, es256}[i%2])
	}

	f := &flood{tf: tf, aud: iss.URL()}
	start := time.Now()
	stopValid := f.sendValid(valid)
	f.sendRandom(random[:burstSize])
	for w := 1; w <= waves; w++ {
		time.Sleep(time.Until(start.Add(time.Duration(w) * waveEvery)))
		f.sendRandom(random[burstSize+(w-1)*waveSize : burstSize+w*waveSize])
	}
	f.wg.Wait()
	elapsed := time.Since(start)
	stopValid()
	if len(f.problems) > 0 {
		t.Fatalf("got %d wrong answers during the flood, want none; first: %s", len(f.problems), f.problems[0])
	}

	// Refetches for unknown kids start at least floodCooldown apart, so
	// during elapsed there are at most floor(elapsed/floodCooldown)+1 of
	// them: for a flood of 3.x s and a 2 s cooldown, 2 (at 0 s and at 2 s).
	// At least one must happen: an unknown kid may be a rotated key.
	fetches := iss.hitCount(jwksPath) - initial
	bound := int(elapsed/floodCooldown) + 1
	if fetches < 1 || fetches > bound {
		t.Fatalf("got %d JWKS fetches for %d unknown kids over %s, want 1..%d (cooldown %s)", fetches, len(random), elapsed, bound, floodCooldown)
	}
	if total := initial + fetches; total > 1+bound {
		t.Fatalf("got %d JWKS fetches in total, want at most %d (1 initial + %d)", total, 1+bound, bound)
	}
	t.Logf("%d random-kid tokens over %s (cooldown %s): %d JWKS refetches (bound %d) + %d initial, %d discovery fetches; %d valid tokens accepted meanwhile, max latency %s",
		len(random), elapsed.Round(time.Millisecond), floodCooldown, fetches, bound, initial, iss.hitCount(discoveryPath),
		f.validSent, f.validMax.Round(time.Microsecond))
	assertStillServing(t, tf, iss)
}

type validToken struct{ token, jti string }

// flood sends reviews from many goroutines and collects what went wrong.
type flood struct {
	tf  *tokenfed
	aud string
	wg  sync.WaitGroup

	mu        sync.Mutex
	problems  []string
	validSent int
	validMax  time.Duration
}

func (f *flood) problem(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
}

// sendRandom reviews every token at once; each must be refused for its kid.
func (f *flood) sendRandom(tokens []string) {
	for _, tok := range tokens {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			r, err := f.tf.do(tok)
			if err != nil {
				f.problem("random kid: %v", err)
				return
			}
			if msg := rejectionProblem(r, tok, errUnknownID); msg != "" {
				f.problem("random kid: %s", msg)
			}
		}()
	}
}

// sendValid reviews one valid token every 20ms until the returned func is
// called; each must be accepted.
func (f *flood) sendValid(tokens []validToken) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for _, v := range tokens {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			r, err := f.tf.do(v.token)
			f.mu.Lock()
			f.validSent++
			f.validMax = max(f.validMax, r.latency)
			f.mu.Unlock()
			if err != nil {
				f.problem("valid token: %v", err)
			} else if msg := acceptanceProblem(r, v.jti, []string{f.aud}); msg != "" {
				f.problem("valid token: %s", strings.TrimSpace(msg))
			}
		}
		f.problem("valid tokens ran out before the flood ended")
	}()
	return func() {
		close(done)
		<-finished
	}
}
