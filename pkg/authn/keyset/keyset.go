// Package keyset holds one issuer's public signing keys: fetched by OpenID
// discovery or from a JWKS URL, or static (inline or a watched file). It
// refreshes in the background, refetches on an unknown kid at most once per
// cooldown, and keeps serving the last good keys for a bounded time while the
// issuer is down.
package keyset

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenfed/tokenfed/pkg/authn/jws"
	"golang.org/x/sync/singleflight"
	"k8s.io/utils/clock"
)

// KeySet is safe for concurrent use. Construct it with New and start it with
// Run.
type KeySet struct {
	opts   Options
	clock  clock.Clock
	algs   map[string]bool
	policy policy
	// src is nil for inline static keys, which never change.
	src source

	keys atomic.Pointer[snapshot]
	// served remembers the kids of every document loaded, for routing to
	// know which kids the issuer may own while its keys are not loaded.
	served atomic.Pointer[servedKids]
	group  singleflight.Group

	mu          sync.Mutex
	lastErr     string
	lastFailure time.Time
	lastMaxAge  time.Duration
	// lastDropped are the keys dropped from the last document read, whether
	// or not it was loaded.
	lastDropped  []drop
	lastKidFetch time.Time

	// onRefresh, when set by tests, runs after each background refresh once
	// the next timer is armed.
	onRefresh func(error)
}

// snapshot is an immutable view of the keys from one successful load.
type snapshot struct {
	byKid    map[string][]Key
	all      []Key
	loadedAt time.Time
}

// New validates opts and builds a key set. Inline static keys are parsed
// here; static files are read here too, so a bad path fails at startup.
// Remote keys are first fetched by Run.
func New(opts Options) (*KeySet, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("keyset %s: %w", opts.IssuerName, err)
	}
	k := &KeySet{opts: opts, clock: opts.Clock, algs: map[string]bool{}, policy: policy{algs: opts.Algorithms}}
	for _, a := range opts.Algorithms {
		k.algs[a] = true
	}
	if err := k.initSource(); err != nil {
		return nil, fmt.Errorf("keyset %s: %w", opts.IssuerName, err)
	}
	return k, nil
}

func (k *KeySet) initSource() error {
	switch {
	case len(k.opts.StaticJWKS) > 0:
		res, err := k.policy.parseKeys(k.opts.StaticJWKS)
		if err != nil {
			return err
		}
		k.lastDropped = res.dropped
		k.store(res.keys)
		return nil
	case k.opts.StaticFile != "":
		k.src = &fileSource{path: k.opts.StaticFile, maxBytes: k.opts.MaxResponseBytes, policy: k.policy}
		got, err := k.src.fetch(context.Background())
		if err != nil {
			return err
		}
		k.lastDropped = got.dropped
		k.store(got.keys)
		return nil
	default:
		src, err := newHTTPSource(k.opts)
		k.src = src
		return err
	}
}

func (k *KeySet) store(keys []Key) {
	k.rememberServed(keys)
	k.keys.Store(newSnapshot(keys, k.clock.Now()))
}

func newSnapshot(keys []Key, loadedAt time.Time) *snapshot {
	s := &snapshot{byKid: map[string][]Key{}, all: keys, loadedAt: loadedAt}
	for _, key := range keys {
		s.byKid[key.KeyID] = append(s.byKid[key.KeyID], key)
	}
	return s
}

// current returns the keys being served, or nil when none were ever loaded or
// the last successful load is older than MaxStaleness.
func (k *KeySet) current() *snapshot {
	s := k.keys.Load()
	if s == nil || k.src == nil {
		return s
	}
	if k.clock.Since(s.loadedAt) > k.opts.MaxStaleness {
		return nil
	}
	return s
}

// Key returns the public key for kid that can verify alg. An unknown kid
// triggers at most one refetch per UnknownKidCooldown, shared by concurrent
// callers.
//
// A key still unknown after the refetch is ErrUnpublishedKey when the keys
// served are the issuer's current document (see upToDate): the issuer does
// not sign with it. Otherwise it is ErrUnknownKey: static keys may lag a
// rotation, and a failed fetch says nothing about the key.
//
// An empty kid is allowed because OIDC tokens need not carry one: the key is
// used only if it is the single key that fits alg. With several candidates
// ErrAmbiguousKey is returned rather than trying each, so one token never
// costs more than one signature check.
func (k *KeySet) Key(ctx context.Context, kid, alg string) (crypto.PublicKey, error) {
	if !k.algs[alg] {
		return nil, jws.ErrAlgorithm
	}
	key, err := k.lookup(kid, alg)
	if !errors.Is(err, ErrUnknownKey) && !errors.Is(err, ErrNotReady) {
		return key, err
	}
	k.RefetchForKid(ctx)
	key, err = k.lookup(kid, alg)
	if errors.Is(err, ErrUnknownKey) && k.upToDate() {
		return nil, ErrUnpublishedKey
	}
	return key, err
}

func (k *KeySet) lookup(kid, alg string) (crypto.PublicKey, error) {
	s := k.current()
	if s == nil {
		return nil, ErrNotReady
	}
	if kid == "" {
		return onlyFit(s.all, alg)
	}
	candidates := s.byKid[kid]
	if len(candidates) == 0 {
		return nil, ErrUnknownKey
	}
	key, err := onlyFit(candidates, alg)
	if errors.Is(err, ErrUnknownKey) {
		return nil, jws.ErrAlgorithm
	}
	return key, err
}

// onlyFit returns the one key among keys that can verify alg. It never picks
// among different keys: the set cannot know which one the signer used, and
// trying each would multiply the cost of a token. With a kid this cannot
// happen (dropSharedKids refused such keys at load); without one it is
// ErrAmbiguousKey.
func onlyFit(keys []Key, alg string) (crypto.PublicKey, error) {
	var found crypto.PublicKey
	for _, key := range keys {
		if !fits(key, alg) {
			continue
		}
		if found != nil && !samePublic(found, key.Public) {
			return nil, ErrAmbiguousKey
		}
		found = key.Public
	}
	if found == nil {
		return nil, ErrUnknownKey
	}
	return found, nil
}

// HasKid reports whether a served key has this ID. It never fetches: routing
// calls it for every token to tell apart clusters sharing one issuer string,
// and calls RefetchForKid when no issuer holds the kid.
func (k *KeySet) HasKid(kid string) bool {
	s := k.current()
	return s != nil && len(s.byKid[kid]) > 0
}

// Loaded reports whether keys are being served, so that HasKid's answer
// means something: a key set that never loaded, or whose keys are older
// than MaxStaleness, knows no kid at all.
func (k *KeySet) Loaded() bool {
	return k.current() != nil
}

// Status describes the key set for health checks and metrics.
type Status struct {
	// Loaded is true while keys are being served.
	Loaded bool
	// LastSuccess is when keys were last loaded; Age is the time since.
	// Inline static keys do not age.
	LastSuccess time.Time
	Age         time.Duration
	// Stale is true when the last fetch failed but older keys are served.
	Stale bool
	// LastError is the last fetch error, empty after a success. Fetch errors
	// never involve a token. When a document kept no key, it lists why each
	// was dropped.
	LastError string
	KeyCount  int
	// Dropped says which keys of the last document read were dropped and
	// why, empty when none were; it is set whether or not the document was
	// loaded. It names keys by kid only, never by key material, and is
	// bounded in length.
	Dropped string
}

// Status reports the current state.
func (k *KeySet) Status() Status {
	k.mu.Lock()
	st := Status{LastError: k.lastErr, Dropped: summarize(k.lastDropped)}
	k.mu.Unlock()
	if s := k.keys.Load(); s != nil {
		st.LastSuccess = s.loadedAt
		if k.src != nil {
			st.Age = k.clock.Since(s.loadedAt)
		}
	}
	if s := k.current(); s != nil {
		st.Loaded = true
		st.KeyCount = len(s.all)
		st.Stale = st.LastError != ""
	}
	return st
}

// droppedCounts counts the keys dropped from the last document read by
// reason code, for the metrics.
func (k *KeySet) droppedCounts() map[string]int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return dropCounts(k.lastDropped)
}
