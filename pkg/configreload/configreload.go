// Package configreload re-reads tokenfed's configuration file while it
// serves, and hands each new, valid configuration to the running server.
//
// The file is polled, not watched: a ConfigMap volume replaces the file by
// swapping a symlink of its directory, which inotify reports on the
// directory rather than on the file, and a poll of one small file every
// few seconds costs nothing. A new content that does not decode or
// validate is refused: the last good configuration keeps serving, and the
// refusal shows in the log, in /readyz?verbose (check "config") and in the
// metrics below, until a good content replaces it. A content refused when
// applied (a file it names is missing or unreadable) is tried again at
// every read, so it applies once the file arrives.
//
// Metrics, named after Prometheus's own reload metrics:
//
//	tokenfed_config_last_reload_successful                 1 or 0
//	tokenfed_config_last_reload_success_timestamp_seconds  Unix time
//	tokenfed_config_reloads_total{result="success|failure"}
package configreload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/klog/v2"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
)

// DefaultInterval is how often the file is read. The kubelet takes up to
// about a minute to update a ConfigMap volume; this adds at most 2 s.
const DefaultInterval = 2 * time.Second

// Options configure a Watcher.
type Options struct {
	// Path is the configuration file.
	Path string
	// Interval between reads; DefaultInterval when zero.
	Interval time.Duration
	// Initial is the content the running configuration was loaded from.
	Initial []byte
	// Load decodes, defaults and validates a content, applying whatever
	// overrides the command line set. Its error lists every problem.
	Load func(data []byte) (*v1alpha1.Configuration, error)
	// Apply makes cfg the running configuration. An error leaves the
	// previous one running and counts as a refused reload.
	Apply func(ctx context.Context, cfg *v1alpha1.Configuration) error
	// Registerer receives the metrics.
	Registerer prometheus.Registerer
}

// Watcher polls the file and applies new contents.
type Watcher struct {
	opts    Options
	metrics *metrics

	mu sync.Mutex
	// seen is the content last read; applied the content in force.
	seen, applied string
	appliedAt     time.Time
	// lastErr is why the content last read (refused) was refused; empty
	// when the content read is the one in force.
	lastErr, refused string
	// retry: refused was refused by Apply, which opens the files it names;
	// it is tried again at every read until it applies or the content
	// changes, because the kubelet updates a Secret volume apart from the
	// ConfigMap's, and a file the new content names may arrive after it.
	retry bool
	// pending is a new content read once, applied if the next read finds
	// it again (see Poll).
	pending string
}

// New returns a watcher whose running configuration came from
// opts.Initial.
func New(opts Options) *Watcher {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	sum := digest(opts.Initial)
	w := &Watcher{opts: opts, metrics: newMetrics(opts.Registerer), seen: sum, applied: sum, appliedAt: time.Now()}
	w.metrics.succeeded(w.appliedAt, false)
	return w
}

// Run polls until ctx is done. A value on now reads the file at once (the
// server sends one on SIGHUP).
func (w *Watcher) Run(ctx context.Context, now <-chan struct{}) {
	tick := time.NewTicker(w.opts.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			w.Poll(ctx)
		case <-now:
			w.poll(ctx, true)
		}
	}
}

// Poll reads the file once, and applies its content if it is new and
// settled: read the same at the read before. A file written in place
// (truncated, then written) can be read half-way, and a prefix of a
// configuration is often a valid one that means something else; a content
// that stays the same for an interval is a complete one. The kubelet swaps
// a ConfigMap's files at once, so this only adds an interval to the minute
// it takes.
func (w *Watcher) Poll(ctx context.Context) { w.poll(ctx, false) }

// poll is Poll; now (SIGHUP, sent once the file is written) applies a new
// content without waiting for it to settle.
func (w *Watcher) poll(ctx context.Context, now bool) {
	logger := klog.FromContext(ctx).WithValues("path", w.opts.Path)
	data, err := v1alpha1.ReadFile(w.opts.Path)
	if err != nil {
		// A ConfigMap update swaps the file under us; a read that fails now
		// is retried at the next tick, and the running config is untouched.
		w.refuse(logger, digest(nil), fmt.Errorf("reading: %w", err), false)
		return
	}
	sum := digest(data)
	changed := w.changed(sum)
	if !changed && !w.retrying(sum) && !w.settled(sum) {
		return
	}
	if sum == w.appliedDigest() {
		w.restored(logger)
		return
	}
	if changed && !now {
		w.settle(sum)
		return
	}
	w.settle("")
	cfg, err := w.opts.Load(data)
	if err != nil {
		w.refuse(logger, sum, err, false)
		return
	}
	if err := w.opts.Apply(ctx, cfg); err != nil {
		w.refuse(logger, sum, err, true)
		return
	}
	w.accept(logger, sum)
}

// settle records sum as the new content to apply at the next read if it
// is still there; "" forgets it.
func (w *Watcher) settle(sum string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending = sum
}

// settled reports whether sum is the new content read at the read before.
func (w *Watcher) settled(sum string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pending == sum
}

// retrying reports whether sum is a content Apply refused, to be tried
// again.
func (w *Watcher) retrying(sum string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.retry && w.refused == sum
}

// changed records sum as seen and reports whether it differs from the
// content seen before.
func (w *Watcher) changed(sum string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if sum == w.seen {
		return false
	}
	w.seen = sum
	return true
}

func (w *Watcher) appliedDigest() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.applied
}

// refuse records that the content of digest sum was refused for err;
// retry says it is to be tried again (see Watcher.retry).
func (w *Watcher) refuse(logger klog.Logger, sum string, err error, retry bool) {
	w.mu.Lock()
	repeated := w.refused == sum && w.lastErr == err.Error()
	w.seen, w.refused, w.lastErr, w.retry = sum, sum, err.Error(), retry
	w.mu.Unlock()
	if repeated {
		return // an unreadable file is retried every tick: count it once
	}
	w.metrics.failed()
	logger.Error(err, "configuration refused; the last good configuration keeps serving")
}

// restored: the file is back to the content in force, after a refused one.
func (w *Watcher) restored(logger klog.Logger) {
	w.mu.Lock()
	w.lastErr, w.retry = "", false
	w.mu.Unlock()
	w.metrics.succeeded(time.Now(), true)
	logger.Info("configuration file is back to the configuration in force")
}

func (w *Watcher) accept(logger klog.Logger, sum string) {
	now := time.Now()
	w.mu.Lock()
	w.applied, w.appliedAt, w.lastErr, w.retry = sum, now, "", false
	w.mu.Unlock()
	w.metrics.succeeded(now, true)
	logger.Info("configuration reloaded", "sha256", sum[:12])
}

func digest(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// Check is the watcher's readiness check, named "config". It never gates:
// a broken edit reaches every replica at once, and each keeps serving its
// last good configuration, so taking them out of the Service would turn a
// refused edit into an outage.
func (w *Watcher) Check() *Check { return &Check{w: w} }

// Check reports the configuration in force and the last refusal.
type Check struct{ w *Watcher }

// Name implements healthz.HealthChecker.
func (c *Check) Name() string { return "config" }

// Informational implements server.Informational.
func (c *Check) Informational() bool { return true }

// Check fails while the file holds a configuration that was refused, or
// cannot be read. Its error says what is serving first, so the refusal's
// own errors end the line.
func (c *Check) Check(*http.Request) error {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	if c.w.lastErr != "" {
		return fmt.Errorf("%s; the last good configuration keeps serving; the file was refused: %s", c.w.inForce(), c.w.lastErr)
	}
	return nil
}

// Detail names the content in force, for /readyz?verbose; while the file
// is refused the error says it.
func (c *Check) Detail() string {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	if c.w.lastErr != "" {
		return ""
	}
	return c.w.inForce()
}

// inForce describes the configuration in force. Callers hold w.mu.
func (w *Watcher) inForce() string {
	return fmt.Sprintf("%s: sha256 %s in force since %s", w.opts.Path, w.applied[:12], w.appliedAt.UTC().Format(time.RFC3339))
}
