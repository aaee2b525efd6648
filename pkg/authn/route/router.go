package route

import (
	"github.com/tokenfed/tokenfed/pkg/authn/jws"

	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"k8s.io/klog/v2"
)

var (
	// ErrUnknownIssuer means no configured issuer claims the token's iss.
	ErrUnknownIssuer = errors.New("token issuer is not trusted")
	// ErrNoKeyMatch means the token's iss is told apart by kid and no issuer
	// claiming it holds the token's kid, even after refetching their keys.
	ErrNoKeyMatch = errors.New("no issuer sharing this iss has the token's key")
	// ErrAmbiguous means several issuers sharing the iss hold the kid, or the
	// token has no kid to tell them apart. It names no issuer: the caller
	// may be anyone holding a token.
	ErrAmbiguous = errors.New("several issuers could verify this token; keyIDs assign a kid to one")
	// ErrKeysNotLoaded means an issuer sharing the token's iss has no keys
	// loaded and may own the token's kid, whatever the others' documents
	// list. It names no issuer; routing logs which at V(3).
	ErrKeysNotLoaded = errors.New("the issuers sharing this token's issuer are not all loaded; cannot tell which one the key belongs to")
)

// logLevelRefusal logs which issuers a refused token's kid could belong to.
const logLevelRefusal = 3

// Claim is how an issuer knows a key ID, weakest first.
type Claim int

const (
	// NoClaim: the issuer does not know the kid.
	NoClaim Claim = iota
	// Fetched: a key document fetched from the issuer lists the kid. Whoever
	// runs a cluster can publish anyone's public key under anyone's kid
	// (kube-apiserver publishes every --service-account-key-file key), so a
	// fetched kid decides only when no other issuer sharing the iss lists it
	// and none of them may hold it unseen (see Keys.MayHold).
	Fetched
	// Assigned: the operator gave the kid to the issuer, in keyIDs or as a
	// static key. It decides over any fetched document.
	Assigned
)

// Keys is what routing needs from an issuer's keys when the issuer's iss is
// told apart by kid.
type Keys interface {
	// Claim reports, without fetching, how the issuer knows kid.
	Claim(kid string) Claim
	// MayHold reports whether the issuer's keys are not loaded and kid may
	// be one of them: a kid of a document it loaded before, however old,
	// one of its keyIDs, or any kid when it never loaded keys. It never
	// fetches.
	MayHold(kid string) bool
	// Refetch refreshes the keys for an unknown kid: at most once per
	// cooldown per issuer, waiting a bounded time, and not waiting while
	// the issuer's fetches are failing.
	Refetch(ctx context.Context)
}

// Candidate is one configured issuer as routing sees it.
type Candidate struct {
	// Name identifies the issuer in configuration.
	Name string
	// IssuerURLs are the iss values the issuer's tokens carry.
	IssuerURLs []string
	// Keys is required when one of the issuer URLs is told apart by kid:
	// another candidate shares it, or it is shared by nature (see
	// sharedByNature).
	Keys Keys
}

// Router maps an unverified header to the single issuer allowed to verify
// it. It is immutable and safe for concurrent use.
type Router struct {
	byIssuer map[string][]Candidate
	// byKid holds the issuer URLs whose tokens are routed by kid.
	byKid map[string]bool
}

// NewRouter indexes candidates by issuer URL.
func NewRouter(candidates []Candidate) (*Router, error) {
	r := &Router{byIssuer: map[string][]Candidate{}, byKid: map[string]bool{}}
	names := map[string]bool{}
	for _, c := range candidates {
		if c.Name == "" || names[c.Name] {
			return nil, fmt.Errorf("issuer name %q is empty or repeated", c.Name)
		}
		names[c.Name] = true
		if err := r.add(c); err != nil {
			return nil, err
		}
	}
	for iss, shared := range r.byIssuer {
		if len(shared) < 2 && !sharedByNature(iss) {
			continue
		}
		r.byKid[iss] = true
		for _, c := range shared {
			if c.Keys == nil {
				return nil, fmt.Errorf("issuer %s: iss %q is told apart by kid and needs a key lookup", c.Name, iss)
			}
		}
	}
	return r, nil
}

func (r *Router) add(c Candidate) error {
	if len(c.IssuerURLs) == 0 {
		return fmt.Errorf("issuer %s has no issuer URL", c.Name)
	}
	seen := map[string]bool{}
	for _, iss := range c.IssuerURLs {
		if iss == "" {
			return fmt.Errorf("issuer %s has an empty issuer URL", c.Name)
		}
		if !seen[iss] {
			seen[iss] = true
			r.byIssuer[iss] = append(r.byIssuer[iss], c)
		}
	}
	return nil
}

// Route returns the name of the issuer that may verify a token with header
// h. It does no cryptography. A token whose iss is told apart by kid may
// cost each issuer sharing the iss an unknown-kid refetch, as a token with
// an unknown kid does its own issuer: clusters rotate keys, and waiting for
// the background refresh would refuse their tokens for up to maxRefresh.
func (r *Router) Route(ctx context.Context, h jws.Header) (string, error) {
	iss := canonicalIssuer(h.Issuer)
	candidates := r.byIssuer[iss]
	switch {
	case len(candidates) == 0:
		return "", ErrUnknownIssuer
	case !r.byKid[iss]:
		return candidates[0].Name, nil
	case h.Kid == "":
		return "", ErrAmbiguous
	}
	return decide(ctx, iss, candidates, h.Kid)
}

// decide routes by kid, refetching once the keys that could change the
// answer: every sharer's when nobody holds the kid, those that may hold it
// unseen when they block it.
func decide(ctx context.Context, iss string, candidates []Candidate, kid string) (string, error) {
	name, blockers, err := byKid(candidates, kid)
	switch {
	case errors.Is(err, ErrNoKeyMatch):
		refetch(ctx, candidates)
	case errors.Is(err, ErrKeysNotLoaded):
		refetch(ctx, blockers)
	default:
		return name, err
	}
	name, blockers, err = byKid(candidates, kid)
	if errors.Is(err, ErrKeysNotLoaded) {
		klog.FromContext(ctx).V(logLevelRefusal).Info("Token refused: issuers sharing its iss have no keys loaded and may own its kid",
			"iss", iss, "unloaded", names(blockers))
	}
	return name, err
}

// byKid picks the one issuer the kid belongs to. An assigned kid decides.
// Otherwise the fetched documents do, unless an issuer sharing the iss has
// no keys loaded and may own the kid (blockers): routing the token to
// another issuer that lists the kid would have that issuer verify it and
// send it to that issuer's cluster. An unloaded issuer blocks only the kids
// it may own, so one member down does not refuse every other member's
// legacy tokens.
func byKid(candidates []Candidate, kid string) (name string, blockers []Candidate, err error) {
	var assigned, fetched []Candidate
	for _, c := range candidates {
		switch c.Keys.Claim(kid) {
		case Assigned:
			assigned = append(assigned, c)
		case Fetched:
			fetched = append(fetched, c)
		}
		if c.Keys.MayHold(kid) {
			blockers = append(blockers, c)
		}
	}
	switch {
	case len(assigned) > 0:
		name, err = only(assigned)
		return name, nil, err
	case len(blockers) > 0:
		return "", blockers, ErrKeysNotLoaded
	}
	name, err = only(fetched)
	return name, nil, err
}

func only(candidates []Candidate) (string, error) {
	switch len(candidates) {
	case 0:
		return "", ErrNoKeyMatch
	case 1:
		return candidates[0].Name, nil
	}
	return "", ErrAmbiguous
}

func names(candidates []Candidate) []string {
	out := make([]string, 0, len(candidates))
	for _, c := range candidates {
		out = append(out, c.Name)
	}
	return out
}

// refetch refreshes every candidate's keys at once, so the slowest issuer
// bounds the wait rather than their sum.
func refetch(ctx context.Context, candidates []Candidate) {
	var wg sync.WaitGroup
	for _, c := range candidates {
		wg.Go(func() { c.Keys.Refetch(ctx) })
	}
	wg.Wait()
}

// canonicalIssuer applies the one coalescing kube-apiserver's OIDC
// authenticator does before comparing issuers: Google's legacy scheme-less
// iss (see oidc.untrustedIssuer).
func canonicalIssuer(iss string) string {
	if iss == "accounts.google.com" {
		return "https://accounts.google.com"
	}
	return iss
}

// sharedByNature reports whether clusters tokenfed does not know may use
// iss too, so that a token carrying it is routed by kid even when one
// issuer claims it: otherwise another cluster's token would be verified by
// that issuer and, failing, sent to its cluster. These are
//   - the legacy iss (jws.LegacyIssuer), which every cluster's secret-based tokens carry;
//   - the API server's in-cluster name, kubernetes.default.svc[.<domain>],
//     which names the local API server in every cluster: kubeadm's default
//     issuer is https://kubernetes.default.svc.<dnsDomain>
//     (cmd/kubeadm/app/phases/controlplane/manifests.go), kept by kind, k3s
//     and RKE2; OpenShift's is https://kubernetes.default.svc.
//
// It is called with configured issuer URLs only, never a token's iss.
func sharedByNature(iss string) bool {
	if iss == jws.LegacyIssuer {
		return true
	}
	u, err := url.Parse(iss)
	if err != nil {
		return false
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	return host == "kubernetes" || host == "kubernetes.default" || host == "kubernetes.default.svc" ||
		strings.HasPrefix(host, "kubernetes.default.svc.")
}

// Candidates names the issuers that a token with header h could be routed
// to, as the keys are now, without any fetch: the one Route would pick, or,
// when its kid does not decide yet, every issuer sharing its iss. Nil means
// no issuer would take the token. Callers' grants are checked against it
// before anything is fetched or verified on their behalf.
func (r *Router) Candidates(h jws.Header) []string {
	iss := canonicalIssuer(h.Issuer)
	candidates := r.byIssuer[iss]
	if len(candidates) == 0 {
		return nil
	}
	if r.byKid[iss] && h.Kid != "" {
		if name, _, err := byKid(candidates, h.Kid); err == nil {
			return []string{name}
		}
	}
	if !r.byKid[iss] {
		return []string{candidates[0].Name}
	}
	names := make([]string, len(candidates))
	for i, c := range candidates {
		names[i] = c.Name
	}
	return names
}
