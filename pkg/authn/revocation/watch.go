package revocation

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

// connection is the state of one resource's watch: whether a watch is
// established and since when it has been established, or broken. The
// reflector re-watches at once when a watch ends normally (every few
// minutes), so a break that lasts is an outage.
type connection struct {
	up    atomic.Bool
	since atomic.Int64 // Unix nanoseconds of the last change
	// lastDown is since as it was when the current watch came up: when
	// the outage it ended began (0: none recorded).
	lastDown atomic.Int64
	clock    clock.PassiveClock

	// progress is when the last event (bookmarks included) arrived, or a
	// watch was established, in Unix nanoseconds; bookmarks says the
	// server sends bookmarks, so a watch that has delivered nothing for
	// progressTimeout has stalled. After a stall, until an event arrives,
	// a watch established is no progress: it may go through the same
	// stalled proxy.
	progress           atomic.Int64
	bookmarks, stalled atomic.Bool
	// progressTimeout is DefaultProgressTimeout (when 0) but in tests.
	progressTimeout time.Duration

	// mu orders the changes; readers use the atomics alone. gen is the
	// current watch request's: a watch the reflector has given up on may
	// end after its successor was established, and must not change the
	// state its successor set.
	mu  sync.Mutex
	gen uint64
}

// stallAfter is how long a watch may deliver nothing.
func (c *connection) stallAfter() time.Duration {
	if c.progressTimeout == 0 {
		return DefaultProgressTimeout
	}
	return c.progressTimeout
}

// progressed records an event of a watch.
func (c *connection) progressed(ev watch.Event) {
	c.progress.Store(c.clock.Now().UnixNano())
	c.stalled.Store(false)
	if ev.Type == watch.Bookmark && !c.bookmarks.Load() {
		c.bookmarks.Store(true)
	}
}

// establishedIf records that watch request gen, if it is still the current
// one, was established (accepted by the server).
func (c *connection) establishedIf(gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	c.setLocked(true)
	if !c.stalled.Load() {
		c.progress.Store(c.since.Load())
	}
}

// stalledIf puts the connection down, for watch request gen if it is still
// the current one, since the last event any watch delivered: the store
// has been current only until then.
func (c *connection) stalledIf(gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || !c.up.Load() {
		return
	}
	since := c.progress.Load()
	if since == 0 {
		since = c.since.Load()
	}
	c.since.Store(since)
	c.up.Store(false)
	c.stalled.Store(true)
}

func (c *connection) set(up bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(up)
}

func (c *connection) setLocked(up bool) {
	if up && !c.up.Load() {
		c.lastDown.Store(c.since.Load())
	}
	c.since.Store(c.clock.Now().UnixNano())
	c.up.Store(up)
}

// claim starts a watch request: from now on only it changes the state. It
// returns the request's generation, and the state it found.
func (c *connection) claim() (gen uint64, wasUp bool, since int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	return c.gen, c.up.Load(), c.since.Load()
}

// setIf sets the state for watch request gen, if it is still the current one.
func (c *connection) setIf(gen uint64, up bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen && (up || c.up.Load()) {
		c.setLocked(up)
	}
}

// state returns whether the watch is up and how long it has been up or
// down. A watch established but silent for longer than progressTimeout,
// from a server that sends bookmarks, is down since its last event: a
// stalled stream, or one re-established through the same stalled proxy,
// keeps nothing current.
func (c *connection) state(now time.Time) (bool, time.Duration) {
	up, since := c.up.Load(), time.Unix(0, c.since.Load())
	if up && c.bookmarks.Load() {
		if last := time.Unix(0, c.progress.Load()); now.Sub(last) > c.stallAfter() {
			return false, now.Sub(last)
		}
	}
	return up, now.Sub(since)
}

// horizon is how far the store is known to be current: now while the
// watch is up; while it is down, the moment it broke, since objects
// created or recreated later are not seen. A watch that has just come back
// is still delivering what it missed, so for FreshToken after it
// reconnects the outage it ended still counts.
func (c *connection) horizon(now time.Time) time.Time {
	up, d := c.state(now)
	if !up {
		return now.Add(-d)
	}
	if last := c.lastDown.Load(); last != 0 && d < FreshToken {
		return time.Unix(0, last)
	}
	return now
}

// listWatch lists and watches one resource's metadata across all
// namespaces and records the watch's connection. Requests run with a
// logger that discards: at -v=8 and above client-go would log whole list
// responses, tens of megabytes on a large cluster; the reflector's own
// lines, from the informer's context, still say what happened.
func listWatch(client metadata.Interface, gvr schema.GroupVersionResource, conn *connection) *cache.ListWatch {
	res := client.Resource(gvr)
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return res.List(quiet(ctx), opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			gen, wasUp, since := conn.claim()
			w, err := res.Watch(quiet(ctx), opts)
			if err != nil {
				conn.setIf(gen, false)
				return nil, err
			}
			initial := opts.SendInitialEvents != nil && *opts.SendInitialEvents
			return trackClaimed(w, conn, initial, gen, wasUp, since), nil
		},
	}
}

// markDown records a broken watch; a watch already down stays down since
// it broke.
func (c *connection) markDown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.up.Load() {
		c.setLocked(false)
	}
}

// revertIf puts the connection back down since a given time, for watch
// request gen if it is still the current one: a watch that was accepted
// but whose first event is an error (a resource version too old after an
// outage) never delivered anything, so it does not end the outage it was
// meant to end.
func (c *connection) revertIf(gen uint64, since int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.since.Store(since)
		c.up.Store(false)
	}
}

func quiet(ctx context.Context) context.Context { return logr.NewContext(ctx, logr.Discard()) }

// trackedWatch passes a watch's events on and records its connection: up
// once established (for a watch that streams the initial state, once that
// state has arrived: the k8s.io/initial-events-end bookmark), down when
// its result channel closes. A watch that delivers nothing, not even a
// bookmark, for progressTimeout from a server that sends bookmarks has
// stalled (a proxy may keep a dead stream open and answer HTTP/2 pings
// itself): it is down since its last event, and ends, so that the
// reflector watches anew.
type trackedWatch struct {
	inner watch.Interface
	out   chan watch.Event
	done  chan struct{}
	once  sync.Once
}

func track(w watch.Interface, conn *connection, initial bool) *trackedWatch {
	gen, wasUp, since := conn.claim()
	return trackClaimed(w, conn, initial, gen, wasUp, since)
}

// trackClaimed tracks the watch of request gen (connection.claim), which
// found the connection up or down since downSince.
func trackClaimed(w watch.Interface, conn *connection, initial bool, gen uint64, wasUp bool, downSince int64) *trackedWatch {
	t := &trackedWatch{inner: w, out: make(chan watch.Event), done: make(chan struct{})}
	if !initial {
		conn.establishedIf(gen)
	}
	go func() {
		defer close(t.out)
		defer conn.setIf(gen, false)
		stall := time.NewTimer(conn.stallAfter())
		defer stall.Stop()
		first := true
		for {
			var ev watch.Event
			select {
			case e, ok := <-w.ResultChan():
				if !ok {
					return
				}
				ev = e
			case <-stall.C:
				if conn.bookmarks.Load() {
					conn.stalledIf(gen)
					t.Stop()
					return
				}
				stall.Reset(conn.stallAfter())
				continue
			}
			conn.progressed(ev)
			stall.Reset(conn.stallAfter())
			switch {
			case first && !initial && ev.Type == watch.Error && !wasUp:
				conn.revertIf(gen, downSince)
			case initial && isInitialEventsEnd(ev):
				conn.setIf(gen, true)
			}
			first = false
			select {
			case t.out <- ev:
			case <-t.done:
				return
			}
		}
	}()
	return t
}

func (t *trackedWatch) ResultChan() <-chan watch.Event { return t.out }

func (t *trackedWatch) Stop() {
	t.once.Do(func() {
		close(t.done)
		t.inner.Stop()
	})
}

func isInitialEventsEnd(ev watch.Event) bool {
	if ev.Type != watch.Bookmark {
		return false
	}
	m, err := meta.Accessor(ev.Object)
	return err == nil && m.GetAnnotations()[metav1.InitialEventsAnnotationKey] == "true"
}

// DefaultProgressTimeout: a watch that delivered nothing for this long has
// stalled. It is longer than the reflector's longest watch (10 min,
// client-go tools/cache defaultMaxWatchTimeout), which kube-apiserver ends
// with a bookmark and the reflector then establishes anew, so a healthy
// watch always makes progress within it. A shorter bound relied on
// kube-apiserver's periodic bookmarks (about once a minute,
// k8s.io/apiserver/pkg/storage/cacher defaultBookmarkFrequency); `make
// bench` showed an idle kube-apiserver's watch judged stalled with it,
// every token then sent to the notSynced fallback (case 3w at 0.2x of 3a).
const DefaultProgressTimeout = 11 * time.Minute
