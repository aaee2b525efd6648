package keyset

import "crypto"

// compromisedKeys are the public halves of the keys a document published
// with their private halves.
func compromisedKeys(drops []drop) []crypto.PublicKey {
	var out []crypto.PublicKey
	for _, d := range drops {
		if d.compromised != nil {
			out = append(out, d.compromised)
		}
	}
	return out
}

// isCompromised reports whether pub is one of the compromised keys.
func isCompromised(pub crypto.PublicKey, compromised []crypto.PublicKey) bool {
	for _, c := range compromised {
		if samePublic(c, pub) {
			return true
		}
	}
	return false
}

// dropCompromised drops a key that the document also lists elsewhere with
// its private half: under whatever kid, anyone can sign for it.
func dropCompromised(res parsed) parsed {
	compromised := compromisedKeys(res.dropped)
	if len(compromised) == 0 {
		return res
	}
	out := parsed{dropped: res.dropped}
	for _, k := range res.keys {
		if !isCompromised(k.Public, compromised) {
			out.keys = append(out.keys, k)
			continue
		}
		r := dropFor(reasonPrivate, "its private key is published under another entry")
		out.dropped = append(out.dropped, drop{key: keyLabel(k.KeyID, 0), reason: *r})
	}
	return out
}

// revoke removes compromised keys from the keys being served. A document
// that kept no key leaves the last good keys in use, but not a key whose
// private half it has just made public. When nothing is left the set is
// not ready, as if it had never loaded. k.mu must be held.
func (k *KeySet) revoke(drops []drop) int {
	compromised := compromisedKeys(drops)
	s := k.keys.Load()
	if len(compromised) == 0 || s == nil {
		return 0
	}
	var kept []Key
	for _, key := range s.all {
		if !isCompromised(key.Public, compromised) {
			kept = append(kept, key)
		}
	}
	revoked := len(s.all) - len(kept)
	switch {
	case revoked == 0:
	case len(kept) == 0:
		k.keys.Store(nil)
	default:
		k.keys.Store(newSnapshot(kept, s.loadedAt))
	}
	return revoked
}
