// Package revocation tells whether the objects a service-account token
// depends on still exist in its issuing cluster, without a request per
// token: metadata-only informers watch the cluster's ServiceAccounts, Pods
// and Nodes (and Secrets, when granted), and a check is a few map lookups.
// The rule is kube-apiserver's token validator's
// (k8s.io/kubernetes pkg/serviceaccount/claims.go, validator.Validate),
// which reads the same objects from its own informers.
package revocation

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	josejwt "github.com/go-jose/go-jose/v4/jwt"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/tokenfed/tokenfed/pkg/authn/jwt"
)

// Verdict is what a check found.
type Verdict int

const (
	// Valid: every object the token references exists with its UID.
	Valid Verdict = iota
	// Revoked: the issuing cluster would reject the token.
	Revoked
	// Unknown: the watch cannot tell (not synced, broken too long, a
	// resource not watched, or a token too new for the watch to have seen
	// its objects); ask the cluster or reject, as configured.
	Unknown
)

func (v Verdict) String() string {
	switch v {
	case Valid:
		return "valid"
	case Revoked:
		return "revoked"
	}
	return "unknown"
}

// FreshToken is how long after its iat a token whose objects the watch
// lacks, or holds with another UID, is Unknown rather than Revoked: its
// objects may be newer than the last event the watch delivered. A token is
// minted for objects that exist, and a working watch delivers them within
// milliseconds. kube-apiserver does the same with a live GET when its
// informer lacks an object (pkg/controller/serviceaccount/tokengetter.go).
// While a resource's watch is broken, the window is counted from the
// moment it broke: the watch has seen nothing created since.
const FreshToken = 5 * time.Second

// deletionGrace is kube-apiserver's: an object whose deletion timestamp
// is more than this in the past counts as deleted (claims.go:
// invalidIfDeletedBefore := now.Add(-jwt.DefaultLeeway)).
const deletionGrace = josejwt.DefaultLeeway

// Options configure a Watcher.
type Options struct {
	// IssuerName labels metrics and logs.
	IssuerName string
	// Config reaches the issuing cluster; its user needs list and watch on
	// serviceaccounts, pods and nodes, and on secrets with Secrets.
	Config *rest.Config
	// Secrets also watches Secrets, for secret-bound tokens.
	Secrets bool
	// MaxWatchOutage is how long the objects last seen still count after
	// a resource's watch broke. Required, > 0.
	MaxWatchOutage time.Duration
	// Metrics may be nil.
	Metrics *Metrics
	// Clock defaults to the real clock.
	Clock clock.PassiveClock
	// ProgressTimeout is how long a watch may deliver nothing, from a
	// server that sends bookmarks, before it counts as stalled; 0 means
	// DefaultProgressTimeout. Tests shorten it.
	ProgressTimeout time.Duration
}

// Watcher watches one issuing cluster. Build it with New, start it with
// Run; until Run has synced, every check is Unknown.
type Watcher struct {
	name      string
	maxOutage time.Duration
	// progressTimeout: see DefaultProgressTimeout.
	progressTimeout time.Duration
	clock           clock.PassiveClock
	metrics         *Metrics
	// serviceAccounts, pods and nodes are always watched; secrets is nil
	// unless Options.Secrets.
	serviceAccounts, pods, nodes, secrets *resource
	running                               atomic.Bool
}

// resource is one watched resource: its informer, store and connection.
type resource struct {
	name     string
	informer cache.SharedIndexInformer
	store    cache.Store
	conn     *connection
	// synced latches informer.HasSynced, which takes the queue's lock.
	synced atomic.Bool
	// count is how many objects the store held at countAt (Unix
	// nanoseconds; 0: never counted), see objects.
	count, countAt atomic.Int64
}

// countEvery bounds how often a resource's objects are counted. Counting
// lists every key of the store, under its lock: megabytes and milliseconds
// on a large cluster. /readyz, which anyone may probe, and /metrics report
// the count, so it is refreshed at most this often, by one caller.
const countEvery = time.Second

// objects is how many objects the store holds, as of at most countEvery
// ago.
func (r *resource) objects(now time.Time) int {
	at := r.countAt.Load()
	if at != 0 && now.Sub(time.Unix(0, at)) < countEvery || !r.countAt.CompareAndSwap(at, now.UnixNano()) {
		return int(r.count.Load())
	}
	n := len(r.store.ListKeys())
	r.count.Store(int64(n))
	return n
}

// New builds a Watcher; it makes no request until Run.
func New(opts Options) (*Watcher, error) {
	if opts.Config == nil || opts.MaxWatchOutage <= 0 {
		return nil, errors.New("revocation watcher needs a cluster config and a positive maximum watch outage")
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	cfg := rest.CopyConfig(opts.Config)
	cfg.UserAgent = rest.DefaultKubernetesUserAgent() + " tokenfed-revocation/" + opts.IssuerName
	client, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("revocation watch of %s: %w", opts.IssuerName, err)
	}
	w := &Watcher{name: opts.IssuerName, maxOutage: opts.MaxWatchOutage, clock: opts.Clock, metrics: opts.Metrics, progressTimeout: opts.ProgressTimeout}
	core := schema.GroupVersion{Version: "v1"}
	w.serviceAccounts = w.newResource(client, core.WithResource("serviceaccounts"))
	w.pods = w.newResource(client, core.WithResource("pods"))
	w.nodes = w.newResource(client, core.WithResource("nodes"))
	if opts.Secrets {
		w.secrets = w.newResource(client, core.WithResource("secrets"))
	}
	return w, nil
}

func (w *Watcher) newResource(client metadata.Interface, gvr schema.GroupVersionResource) *resource {
	conn := &connection{clock: w.clock, progressTimeout: w.progressTimeout}
	conn.set(false)
	inf := cache.NewSharedIndexInformerWithOptions(listWatch(client, gvr, conn), &metav1.PartialObjectMetadata{},
		cache.SharedIndexInformerOptions{ObjectDescription: gvr.Resource + " of " + w.name})
	// Only fails once the informer has started.
	_ = inf.SetTransform(compact)
	return &resource{name: gvr.Resource, informer: inf, store: inf.GetStore(), conn: conn}
}

func (w *Watcher) resources() []*resource {
	rs := []*resource{w.serviceAccounts, w.pods, w.nodes}
	if w.secrets != nil {
		rs = append(rs, w.secrets)
	}
	return rs
}

// Run watches until ctx is done. It is called once.
func (w *Watcher) Run(ctx context.Context) {
	logger := klog.FromContext(ctx).WithValues("issuer", w.name)
	ctx = klog.NewContext(ctx, logger)
	w.running.Store(true)
	defer w.running.Store(false)
	w.metrics.add(w)
	defer w.metrics.remove(w)
	var wg sync.WaitGroup
	for _, r := range w.resources() {
		wg.Go(func() { r.informer.RunWithContext(ctx) })
		// Each resource latches its own sync: one that never syncs (a
		// missing grant) must not hold back the others.
		wg.Go(func() {
			if cache.WaitForCacheSync(ctx.Done(), r.informer.HasSynced) {
				r.synced.Store(true)
				logger.V(2).Info("revocation watch synced", "resource", r.name, "objects", len(r.store.ListKeys()))
			}
		})
	}
	logger.V(2).Info("revocation watch started", "resources", len(w.resources()))
	wg.Wait()
	logger.V(2).Info("revocation watch stopped")
}

// Running reports whether Run is watching: from its start until its
// context is done and its informers have stopped.
func (w *Watcher) Running() bool { return w.running.Load() }

// Synced reports whether every resource has synced once.
func (w *Watcher) Synced() bool {
	for _, r := range w.resources() {
		if !r.synced.Load() {
			return false
		}
	}
	return true
}

// vouches: the resource's objects may decide a token now. They may not
// before the first sync, nor once its watch has been broken longer than
// the maximum outage.
func (w *Watcher) vouches(r *resource, now time.Time) error {
	if !r.synced.Load() {
		return fmt.Errorf("%s of %s not synced yet", r.name, w.name)
	}
	if up, d := r.conn.state(now); !up && d > w.maxOutage {
		return fmt.Errorf("watch of %s of %s broken for %s", r.name, w.name, d.Round(time.Second))
	}
	return nil
}

// errSecretsNotWatched: the issuer was not granted Secrets.
var errSecretsNotWatched = errors.New("token is bound to a secret and secrets are not watched")

// errInvalidated is kube-apiserver's wording for a bound object that is
// gone.
var errInvalidated = errors.New("service account token has been invalidated")

// Token is a verified token's refs, ready for checks: its objects' store
// keys are built once, so a check (on every cache hit) allocates nothing.
type Token struct {
	refs                     jwt.Refs
	saKey, secretKey, podKey string
}

// NewToken prepares refs for Check.
func NewToken(refs jwt.Refs) *Token {
	key := func(r jwt.ObjectRef) string { return refs.Namespace + "/" + r.Name }
	t := &Token{refs: refs, saKey: key(refs.ServiceAccount)}
	if refs.Secret.Set {
		t.secretKey = key(refs.Secret)
	}
	if refs.Pod.Set {
		t.podKey = key(refs.Pod)
	}
	return t
}

// Check applies kube-apiserver's rule to a token's refs (claims.go,
// validator.Validate, in its order): the ServiceAccount must exist with
// the token's UID and not have been deleted more than a minute ago; so
// must a bound Secret, and a bound Pod; a Node must only when the token is
// bound to it alone (a pod-bound token's node claim is informational).
// Legacy refs follow legacy.go instead: the Secret by name, and no grace
// after a deletion. An object the watch finds gone revokes the token even
// when another cannot be told: the token is Unknown only when none is
// revoked. The error says why a token is Revoked or Unknown; it names
// objects, never the token.
func (w *Watcher) Check(t *Token) (Verdict, error) {
	return w.CheckAt(t, w.clock.Now())
}

// CheckAt is Check at now, for a caller that has just read the clock: a
// cache hit, which re-checks its token's refs.
func (w *Watcher) CheckAt(t *Token, now time.Time) (Verdict, error) {
	refs := &t.refs
	c := check{w: w, now: now, iat: refs.IssuedAt, ns: refs.Namespace, legacy: refs.Legacy}
	var unknown error // the first reason a reference could not be told
	if v, err := c.object(w.serviceAccounts, t.saKey, refs.ServiceAccount, saMismatch); v == Revoked {
		return v, err
	} else if v == Unknown {
		unknown = err
	}
	if refs.Secret.Set {
		v, err := Unknown, errSecretsNotWatched
		if w.secrets != nil {
			v, err = c.object(w.secrets, t.secretKey, refs.Secret, secretMismatch)
		}
		if v == Revoked {
			return v, err
		} else if v == Unknown && unknown == nil {
			unknown = err
		}
	}
	var v Verdict
	var err error
	switch {
	case refs.Pod.Set:
		v, err = c.object(w.pods, t.podKey, refs.Pod, podMismatch)
	case refs.Node.Set:
		v, err = c.object(w.nodes, refs.Node.Name, refs.Node, nodeMismatch)
	}
	if v == Revoked {
		return v, err
	} else if v == Unknown && unknown == nil {
		unknown = err
	}
	if unknown != nil {
		return Unknown, unknown
	}
	return Valid, nil
}

// check is one Check's shared inputs.
type check struct {
	w   *Watcher
	now time.Time
	iat time.Time // zero if the token has none
	ns  string
	// legacy: a secret-based token's refs (jwt.Refs.Legacy).
	legacy bool
}

// fresh: the token may be newer than what r's watch has delivered, so a
// missing object or another UID does not revoke it.
func (c check) fresh(r *resource) bool {
	return !c.iat.IsZero() && r.conn.horizon(c.now).Sub(c.iat) < FreshToken
}

// deleted: an object's deletion timestamp revokes the token at now.
// kube-apiserver allows a minute (go-jose's leeway) for a bound token's
// objects, and nothing for a legacy token's.
func (c check) deleted(o *object) bool {
	if o.deletionSeconds == 0 {
		return false
	}
	return c.legacy || time.Unix(o.deletionSeconds, 0).Before(c.now.Add(-deletionGrace))
}

// mismatch words a UID mismatch; gone words a missing or deleted object.
type wording struct {
	mismatch func(have, claim string) error
	gone     func(ns, name string, deleted bool) error
}

var saMismatch = wording{
	mismatch: func(have, claim string) error {
		return fmt.Errorf("service account UID (%s) does not match claim (%s)", have, claim)
	},
	gone: func(ns, name string, deleted bool) error {
		if deleted {
			return fmt.Errorf("service account %s/%s has been deleted", ns, name)
		}
		return fmt.Errorf("serviceaccounts %q not found", name)
	},
}

var (
	secretMismatch = boundWording("secret")
	podMismatch    = boundWording("pod")
	nodeMismatch   = boundWording("node")
)

func boundWording(kind string) wording {
	return wording{
		mismatch: func(have, want string) error {
			return fmt.Errorf("%s UID (%s) does not match service account %s ref claim (%s)", kind, have, kind, want)
		},
		gone: func(string, string, bool) error { return errInvalidated },
	}
}

// object checks one reference, stored under key, against r's store.
func (c check) object(r *resource, key string, ref jwt.ObjectRef, say wording) (Verdict, error) {
	if err := c.w.vouches(r, c.now); err != nil {
		return Unknown, err
	}
	item, found, _ := r.store.GetByKey(key) // a thread-safe store's GetByKey never fails
	o, _ := item.(*object)
	if ref.Name == "" {
		// kube-apiserver's Get of an empty name fails.
		return Revoked, say.gone(c.ns, ref.Name, false)
	}
	// A legacy token names its Secret without a UID: any will do.
	otherUID := o != nil && o.uid != ref.UID && !(c.legacy && ref.UID == "")
	switch {
	case (o == nil || otherUID) && c.fresh(r):
		return Unknown, fmt.Errorf("%s %s not seen yet by the watch of %s", r.name, key, c.w.name)
	case !found || o == nil:
		return Revoked, say.gone(c.ns, ref.Name, false)
	case otherUID:
		return Revoked, say.mismatch(o.uid, ref.UID)
	case c.deleted(o):
		return Revoked, say.gone(c.ns, ref.Name, true)
	case c.legacy && o.invalidated:
		return Revoked, fmt.Errorf("the token in %s %s/%s has been marked invalid", r.name, c.ns, ref.Name)
	}
	return Valid, nil
}
