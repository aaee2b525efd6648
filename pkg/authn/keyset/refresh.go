package keyset

import (
	"context"
	"errors"
	"time"

	"golang.org/x/sync/singleflight"
	"k8s.io/klog/v2"
)

// Log verbosity levels.
const (
	logLoaded = 2
)

// Run loads remote keys, then refreshes them in the background until ctx is
// done; it also registers the key set with Options.Metrics meanwhile. Start
// it with `go ks.Run(ctx)` for every key set (for inline keys it only waits).
// Key and VerifySignature work before the first load completes: an unknown
// kid triggers a fetch.
func (k *KeySet) Run(ctx context.Context) {
	k.opts.Metrics.add(k)
	defer k.opts.Metrics.remove(k)
	if k.src == nil {
		<-ctx.Done()
		return
	}
	for {
		err := k.refresh(ctx)
		timer := k.clock.NewTimer(k.nextInterval(err))
		if k.onRefresh != nil {
			k.onRefresh(err)
		}
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C():
		}
	}
}

// nextInterval follows the issuer's Cache-Control max-age within
// [MinRefresh, MaxRefresh]. Without max-age, and after a failure, it uses
// MinRefresh: refreshing too often costs one small request, refreshing too
// rarely keeps a revoked key trusted.
func (k *KeySet) nextInterval(err error) time.Duration {
	k.mu.Lock()
	d := k.lastMaxAge
	k.mu.Unlock()
	if err != nil || d < k.opts.MinRefresh {
		return k.opts.MinRefresh
	}
	return min(d, k.opts.MaxRefresh)
}

// refresh loads keys once, sharing an in-flight load with other callers. The
// load runs detached from ctx, so one caller giving up does not fail the
// others; FetchTimeout bounds it instead.
func (k *KeySet) refresh(ctx context.Context) error {
	ch := k.group.DoChan("load", func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), k.opts.FetchTimeout)
		defer cancel()
		return nil, k.load(lctx)
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RefetchForKid refreshes for an unknown kid unless another such refresh
// started within UnknownKidCooldown. Callers arriving while one runs wait for
// it, so a flood of random kids costs at most one fetch per window. Key calls
// it itself; routing calls it when no issuer sharing an iss holds a kid.
func (k *KeySet) RefetchForKid(ctx context.Context) {
	if k.src == nil {
		return
	}
	k.awaitKidRefetch(ctx, k.startKidRefetch(ctx))
}

// startKidRefetch starts an unknown-kid refresh unless one started within
// UnknownKidCooldown, or joins the one running. The channel is buffered:
// nobody need read it.
func (k *KeySet) startKidRefetch(ctx context.Context) <-chan singleflight.Result {
	return k.group.DoChan("kid", func() (any, error) {
		if !k.claimCooldown() {
			return nil, nil
		}
		return nil, k.refresh(context.WithoutCancel(ctx))
	})
}

// awaitKidRefetch waits for ch a bounded time. A hanging issuer must not
// hold every review with an unknown kid for the whole fetch timeout: the
// fetch finishes in the background for the reviews that come after.
func (k *KeySet) awaitKidRefetch(ctx context.Context, ch <-chan singleflight.Result) {
	select {
	case <-ch:
	case <-ctx.Done():
	case <-k.clock.After(maxKidWait):
	}
}

// maxKidWait bounds how long a review waits for an unknown-kid refetch. A
// healthy issuer answers in milliseconds.
const maxKidWait = 2 * time.Second

func (k *KeySet) claimCooldown() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.clock.Now()
	if !k.lastKidFetch.IsZero() && now.Sub(k.lastKidFetch) < k.opts.UnknownKidCooldown {
		return false
	}
	k.lastKidFetch = now
	return true
}

// load fetches and stores keys, and records the outcome. It logs failures
// itself because background callers have nobody to return them to.
func (k *KeySet) load(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithValues("issuer", k.opts.IssuerName)
	got, err := k.src.fetch(ctx)
	k.opts.Metrics.fetched(k.opts.IssuerName, err)
	k.mu.Lock()
	defer k.mu.Unlock()
	if err != nil {
		k.failed(err, logger)
		return err
	}
	if k.recordDropped(got.dropped) {
		logger.Info("Keys dropped from the key set", "dropped", summarize(got.dropped))
	}
	k.lastErr = ""
	k.lastMaxAge = got.maxAge
	k.store(got.keys)
	logger.V(logLoaded).Info("Key set loaded", "keys", len(got.keys), "maxAge", got.maxAge)
	return nil
}

// failed records a failed fetch. A document that kept no key still reports
// what it dropped, and takes out of service any key whose private half it
// published. k.mu must be held.
func (k *KeySet) failed(err error, logger klog.Logger) {
	if drops, ok := droppedBy(err); ok {
		k.recordDropped(drops)
		if n := k.revoke(drops); n > 0 {
			logger.Error(nil, "Keys revoked: the issuer published their private keys", "revoked", n)
		}
	}
	k.lastErr = err.Error()
	k.lastFailure = k.clock.Now()
	logger.Error(err, "Key set fetch failed", "serving", k.current() != nil)
}

// droppedBy returns the drops a failed fetch carries, and whether it read a
// document at all: only a document that kept no key was read. After other
// failures the drops of the last document read stand.
func droppedBy(err error) ([]drop, bool) {
	var nu *noUsableKeysError
	if errors.As(err, &nu) {
		return nu.dropped, true
	}
	return nil, false
}

// recordDropped keeps the drops of the last document read, and reports
// whether there are drops not reported before: a bad key republished on
// every refresh is logged once, not every minute. k.mu must be held.
func (k *KeySet) recordDropped(drops []drop) bool {
	changed := summarize(drops) != summarize(k.lastDropped)
	k.lastDropped = drops
	return changed && len(drops) > 0
}
