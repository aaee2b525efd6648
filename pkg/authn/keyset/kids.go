package keyset

import (
	"crypto"
)

// dropSharedKids enforces one rule for keys that share a kid: a kid and an
// algorithm name at most one key.
//
// RFC 7517 §4.5 lets keys share a kid only when their types differ (an RSA
// and an EC key published as alternatives); no allowed algorithm fits both,
// so the token's alg picks one and both are kept. The same key listed twice
// is kept too: either entry verifies alike. But when two different keys
// could both verify one allowed algorithm, nothing says which one a token
// means. Trying each would let one token cost several signature checks, and
// picking the first would let document order decide; so both are dropped,
// and the drop is reported. Keys of that kid that fit no contested algorithm
// stay.
func (p policy) dropSharedKids(res parsed) parsed {
	contested := map[int]string{}
	for _, group := range kidGroups(res.keys) {
		p.markContested(res.keys, group, contested)
	}
	if len(contested) == 0 {
		return res
	}
	out := parsed{dropped: res.dropped}
	for i, k := range res.keys {
		alg, ok := contested[i]
		if !ok {
			out.keys = append(out.keys, k)
			continue
		}
		r := dropFor(reasonSharedKid, "shares its kid with another key for %s", alg)
		out.dropped = append(out.dropped, drop{key: keyLabel(k.KeyID, 0), reason: *r})
	}
	return out
}

// kidGroups returns the positions of keys sharing a non-empty kid. Keys
// without a kid are never looked up by kid: a kid-less token picks among all
// keys, and onlyFit refuses to guess there.
func kidGroups(keys []Key) map[string][]int {
	groups := map[string][]int{}
	for i, k := range keys {
		if k.KeyID != "" {
			groups[k.KeyID] = append(groups[k.KeyID], i)
		}
	}
	return groups
}

// markContested records, for each key of group that another different key
// of the group could stand in for, the algorithm they both fit.
func (p policy) markContested(keys []Key, group []int, contested map[int]string) {
	for x, i := range group {
		for _, j := range group[x+1:] {
			if alg := p.sharedAlg(keys[i], keys[j]); alg != "" {
				contested[i], contested[j] = alg, alg
			}
		}
	}
}

// sharedAlg is an allowed algorithm both keys fit, if they are different
// keys.
func (p policy) sharedAlg(a, b Key) string {
	if samePublic(a.Public, b.Public) {
		return ""
	}
	for _, alg := range p.algs {
		if fits(a, alg) && fits(b, alg) {
			return alg
		}
	}
	return ""
}

// samePublic reports whether a and b are the same key; every key type a set
// holds has an Equal method.
func samePublic(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}
