package route

import (
	"errors"
	"fmt"
)

var (
	// ErrUnknownIssuer means no configured issuer claims the token's iss.
	ErrUnknownIssuer = errors.New("token issuer is not trusted")
	// ErrNoKeyMatch means several issuers share the token's iss and none
	// holds its kid.
	ErrNoKeyMatch = errors.New("no issuer sharing this iss has the token's key")
	// ErrAmbiguous means several issuers sharing the iss hold the kid, or the
	// token has no kid to tell them apart.
	ErrAmbiguous = errors.New("several issuers could verify this token")
)

// Candidate is one configured issuer as routing sees it.
type Candidate struct {
	// Name identifies the issuer in configuration.
	Name string
	// IssuerURLs are the iss values the issuer's tokens carry.
	IssuerURLs []string
	// HasKid reports, without fetching, whether the issuer holds a key. It is
	// required when another candidate shares one of the issuer URLs, since
	// clusters that share an iss string are told apart by key ID.
	HasKid func(kid string) bool
}

// Router maps an unverified header to the single issuer allowed to verify
// it. It is immutable and safe for concurrent use.
type Router struct {
	byIssuer map[string][]Candidate
}

// NewRouter indexes candidates by issuer URL.
func NewRouter(candidates []Candidate) (*Router, error) {
	r := &Router{byIssuer: map[string][]Candidate{}}
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
		if len(shared) < 2 && iss != legacyIssuer {
			continue
		}
		for _, c := range shared {
			if c.HasKid == nil {
				return nil, fmt.Errorf("issuer %s shares iss %q with another issuer and needs a key lookup", c.Name, iss)
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
// h. It does no cryptography and no I/O, so a token from an unknown issuer
// costs almost nothing.
func (r *Router) Route(h Header) (string, error) {
	iss := canonicalIssuer(h.Issuer)
	candidates := r.byIssuer[iss]
	switch {
	case len(candidates) == 0:
		return "", ErrUnknownIssuer
	case len(candidates) == 1 && iss != legacyIssuer:
		return candidates[0].Name, nil
	}
	if h.Kid == "" {
		return "", ErrAmbiguous
	}
	var match []string
	for _, c := range candidates {
		if c.HasKid(h.Kid) {
			match = append(match, c.Name)
		}
	}
	switch len(match) {
	case 0:
		return "", ErrNoKeyMatch
	case 1:
		return match[0], nil
	}
	return "", ErrAmbiguous
}

// legacyIssuer is the iss of every cluster's secret-based tokens. It is
// shared by nature, so such a token goes to an issuer only if that issuer
// holds its kid, even when one issuer is configured for it: otherwise a
// legacy token of an unknown cluster would be sent to a known cluster's
// upstream.
const legacyIssuer = "kubernetes/serviceaccount"

// canonicalIssuer applies the one coalescing kube-apiserver's OIDC
// authenticator does before comparing issuers: Google's legacy scheme-less
// iss (see oidc.untrustedIssuer).
func canonicalIssuer(iss string) string {
	if iss == "accounts.google.com" {
		return "https://accounts.google.com"
	}
	return iss
}
