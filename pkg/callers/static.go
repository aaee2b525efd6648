package callers

import (
	"context"
	"slices"

	"golang.org/x/time/rate"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
)

// policyAny labels callers when no static list is configured: every
// authenticated caller may do everything.
const policyAny = "any"

// static decides from the configured list; first match wins.
type static struct {
	policies []*staticPolicy
	// any admits every caller when the list is empty.
	any *Admission
}

type staticPolicy struct {
	cfg       v1alpha1.CallerPolicy
	admission Admission
}

var _ decider = &static{}

func newStatic(list []v1alpha1.CallerPolicy, m *Metrics) *static {
	s := &static{}
	for _, cp := range list {
		p := &staticPolicy{cfg: cp}
		p.admission = Admission{Policy: cp.Name, Limiter: limiter(cp.RateLimit), AllIssuers: slices.Contains(cp.Issuers, v1alpha1.AllIssuers), grant: p, counts: m.forPolicy(cp.Name)}
		s.policies = append(s.policies, p)
	}
	if len(list) == 0 {
		s.any = &Admission{Policy: policyAny, AllIssuers: true, grant: anyGrant{}, counts: m.forPolicy(policyAny)}
	}
	return s
}

// limiter is a token bucket, or nil for none.
func limiter(r *v1alpha1.RateLimit) *rate.Limiter {
	if r == nil {
		return nil
	}
	return rate.NewLimiter(rate.Limit(r.QPS), int(r.Burst))
}

func (s *static) admit(_ context.Context, u user.Info) (*Admission, bool, error) {
	if s.any != nil {
		return s.any, true, nil
	}
	p := s.match(u)
	if p == nil || len(p.cfg.Issuers) == 0 {
		return nil, false, nil
	}
	return &p.admission, true, nil
}

func (s *static) endpoint(_ context.Context, u user.Info, path string) (bool, error) {
	if len(s.policies) == 0 {
		return true, nil
	}
	p := s.match(u)
	return p != nil && slices.Contains(p.cfg.Endpoints, path), nil
}

func (s *static) match(u user.Info) *staticPolicy {
	for _, p := range s.policies {
		if p.matches(u) {
			return p
		}
	}
	return nil
}

func (p *staticPolicy) matches(u user.Info) bool {
	if slices.Contains(p.cfg.Users, u.GetName()) {
		return true
	}
	for _, g := range u.GetGroups() {
		if slices.Contains(p.cfg.Groups, g) {
			return true
		}
	}
	for _, uri := range u.GetExtra()[URISANExtraKey] {
		if slices.Contains(p.cfg.URIs, uri) {
			return true
		}
	}
	return false
}

func (p *staticPolicy) issuer(_ context.Context, _ user.Info, name string) (bool, error) {
	return slices.Contains(p.cfg.Issuers, v1alpha1.AllIssuers) || slices.Contains(p.cfg.Issuers, name), nil
}

// audiences: with a list, the review must name audiences and every one
// must be listed; otherwise the issuer's defaults would be asked about.
func (p *staticPolicy) audiences(auds []string) bool {
	if len(p.cfg.Audiences) == 0 {
		return true
	}
	if len(auds) == 0 {
		return false
	}
	for _, a := range auds {
		if !slices.Contains(p.cfg.Audiences, a) {
			return false
		}
	}
	return true
}

type anyGrant struct{}

func (anyGrant) issuer(context.Context, user.Info, string) (bool, error) { return true, nil }
func (anyGrant) audiences([]string) bool                                 { return true }
