package callers

import (
	"context"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/klog/v2"
)

// Log levels of caller decisions. Refusals are always logged, but sampled:
// a caller hammering tokenfed with a bad credential must not flood the log.
// Never the token: only the caller's name, policy, issuer and outcome.
const (
	logLevelDecision = 2
	logLevelRefusal  = 0
	refusalLogEvery  = time.Second
)

type audit struct {
	refusals rate.Sometimes
}

func newAudit() *audit {
	return &audit{refusals: rate.Sometimes{First: 5, Interval: refusalLogEvery}}
}

func (a *audit) enabled(ctx context.Context) bool {
	return klog.FromContext(ctx).V(logLevelDecision).Enabled()
}

// decision is the one line per review decision. Its arguments are only
// built when the line is written: boxing them costs allocations per review.
func (a *audit) decision(ctx context.Context, u user.Info, policy, issuer, outcome string) {
	if logger := klog.FromContext(ctx).V(logLevelDecision); logger.Enabled() {
		logger.Info("caller decision", "caller", u.GetName(), "policy", policy, "issuer", issuer, "outcome", outcome)
	}
}

func (a *audit) refused(ctx context.Context, u user.Info, policy, outcome string) {
	a.refusals.Do(func() {
		klog.FromContext(ctx).V(logLevelRefusal).Info("caller refused", "caller", u.GetName(), "policy", policy, "outcome", outcome)
	})
}

func (a *audit) unauthenticated(ctx context.Context, path string) {
	a.refusals.Do(func() {
		klog.FromContext(ctx).V(logLevelRefusal).Info("caller refused", "path", path, "outcome", OutcomeUnauthenticated)
	})
}
