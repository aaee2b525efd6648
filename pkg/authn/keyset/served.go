package keyset

import "context"

// maxServedKids bounds the kids a key set remembers from documents it
// loaded. kube-apiserver publishes a handful of keys; the bound only stops
// an issuer that changes kids on every fetch from growing the set forever.
// A document's own kids are always kept, whatever its size.
const maxServedKids = 256

// servedKids are the kids of every document the key set loaded, newest
// first, bounded by maxServedKids. It is immutable.
type servedKids struct {
	order []string
	set   map[string]bool
}

// withKids returns the kids of keys, then those of s not among them, up to
// maxServedKids.
func (s *servedKids) withKids(keys []Key) *servedKids {
	out := &servedKids{set: map[string]bool{}}
	add := func(kid string) {
		if kid != "" && !out.set[kid] {
			out.set[kid] = true
			out.order = append(out.order, kid)
		}
	}
	for _, key := range keys {
		add(key.KeyID)
	}
	if s != nil {
		for _, kid := range s.order {
			if len(out.order) >= maxServedKids {
				break
			}
			add(kid)
		}
	}
	return out
}

// rememberServed adds the kids of keys to those served. Called by store,
// which load serializes with k.mu.
func (k *KeySet) rememberServed(keys []Key) {
	k.served.Store(k.served.Load().withKids(keys))
}

// EverLoaded reports whether keys were ever loaded, however long ago and
// even if they were revoked since.
func (k *KeySet) EverLoaded() bool {
	return k.served.Load() != nil
}

// ServedKid reports whether a document the set loaded had a key with this
// ID (the last maxServedKids such kids), even one no longer served: older
// than MaxStaleness, revoked or rotated out. Routing uses it to know which
// kids an issuer whose keys are not loaded could still own.
func (k *KeySet) ServedKid(kid string) bool {
	s := k.served.Load()
	return s != nil && s.set[kid]
}

// RefetchForRoute is RefetchForKid for routing, which asks an issuer to
// refetch for a token that may not be its own. When the issuer's last fetch
// failed recently it still starts the refetch, at most once per
// UnknownKidCooldown, but does not wait for it: while an issuer is down,
// each review on an iss it shares would otherwise wait on it.
func (k *KeySet) RefetchForRoute(ctx context.Context) {
	if k.src == nil {
		return
	}
	ch := k.startKidRefetch(ctx)
	if !k.failedRecently() {
		k.awaitKidRefetch(ctx, ch)
	}
}

// failedRecently reports whether the last fetch failed, and did so since the
// background refresh last retried: after a failure it retries within
// MinRefresh, and the retry ends within FetchTimeout.
func (k *KeySet) failedRecently() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lastErr != "" && k.clock.Since(k.lastFailure) <= k.opts.MinRefresh+k.opts.FetchTimeout
}

// Attempted reports whether the set has loaded keys or failed to at least
// once: inline keys count as loaded from the start. A hot reload waits for
// it before it serves a new issuer.
func (k *KeySet) Attempted() bool {
	if k.EverLoaded() || k.src == nil {
		return true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lastErr != ""
}
