package upstream

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// ErrCredentialRefused marks answers given because the issuing cluster
// refuses tokenfed's own credential: HTTP 401 (it does not accept the
// credential: expired, revoked, another cluster's) or 403 (the credential
// lacks `create tokenreviews`, config/upstream-rbac). It says nothing
// about the token, but unlike an outage it lasts until an operator fixes
// the credential, so retrying cannot help. Callers answer it as a refusal
// (authenticated: false, with this reason) and do not cache it. A calling
// kube-apiserver's webhook authenticator turns that answer (status.error
// set) into an error, which it neither retries nor caches
// (TestCredentialRefusalNotCachedByCallingAPIServer in pkg/tokenreview);
// the cluster itself is asked once per CredentialHold.
var ErrCredentialRefused = errors.New("issuer's cluster refuses tokenfed's credential")

// CredentialHold is how long a refusal of tokenfed's credential is
// remembered per issuer and answered without a call: 10 s, the default
// failure TTL of the result cache. After it one review checks again (the
// others keep the remembered answer meanwhile), so a fixed RoleBinding
// takes effect within CredentialHold, and a credential that stays refused
// costs the cluster one TokenReview per CredentialHold, whatever the load.
const CredentialHold = 10 * time.Second

// isCredentialRefusal reports whether an HTTP status refuses tokenfed's
// credential rather than the review (see ErrCredentialRefused).
func isCredentialRefusal(code int) bool {
	return code == http.StatusUnauthorized || code == http.StatusForbidden
}

// refusals remembers the cluster's last refusal of tokenfed's credential,
// for CredentialHold, so that a refused credential costs one call per hold
// rather than one (or, with a calling kube-apiserver's retries, five) per
// review. It works like the breaker's open state, but answers with the
// refusal, not with "unavailable": the cluster is up, and says no.
type refusals struct {
	clock clock.PassiveClock

	mu sync.Mutex
	// last is the refusal answered from memory; nil when none is held.
	last    *callError
	until   time.Time
	probing bool
}

// check returns the refusal to answer instead of calling, or nil when a
// call may go out. probe says the call checks whether a remembered refusal
// still holds: one at a time, once its hold is over.
func (r *refusals) check() (remembered *callError, probe bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.last == nil:
		return nil, false
	case r.probing || r.clock.Now().Before(r.until):
		return r.last, false
	}
	r.probing = true
	return nil, true
}

// release undoes check for a probe that never went out.
func (r *refusals) release(probe bool) {
	if !probe {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.probing = false
}

// record keeps a refusal for CredentialHold, or forgets the one held once
// a probe got another answer. Calls that left before a refusal was held
// say nothing about whether it still holds, as with the breaker. It
// reports whether a refusal started or ended being held, for the log.
func (r *refusals) record(err error, probe bool) (started, ended bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if probe {
		r.probing = false
	}
	var ce *callError
	if errors.As(err, &ce) && ce.credential {
		started = r.last == nil
		r.last, r.until = ce, r.clock.Now().Add(CredentialHold)
		return started, false
	}
	if probe && r.last != nil {
		r.last = nil
		return false, true
	}
	return false, false
}
