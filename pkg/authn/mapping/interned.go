package mapping

import (
	"encoding/binary"
	"hash/maphash"
	"maps"
	"slices"
	"strings"
	"sync"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
)

// User is a mapped identity as a cached answer keeps it. What every token
// of one identity shares (name, UID, groups, extras) is interned by an
// Interner; only the credential ID, kube-apiserver's per-token extra
// (user.CredentialIDKey), is the token's own. A cache holding
// 100k tokens of a few hundred service accounts then holds a few hundred
// identities and 100k credential IDs.
//
// Its slices and maps are shared and must not be modified, which
// user.Info's users never do (the mapping above never mutates its input).
type User struct {
	shared *sharedIdentity
	// credentialID is the one-value extra, empty when the token has none.
	credentialID [1]string
}

var _ user.Info = &User{}

type sharedIdentity struct {
	name, uid string
	groups    []string
	// extraKeys and extraValues are every extra but the credential ID, in
	// key order: two slices are a third of a small map's size.
	extraKeys   []string
	extraValues [][]string
}

func (u *User) GetName() string     { return u.shared.name }
func (u *User) GetUID() string      { return u.shared.uid }
func (u *User) GetGroups() []string { return u.shared.groups }

// GetExtra returns the extras, the credential ID included. With a
// credential ID it builds a new map: hot paths use RangeExtra or
// ExtraValue instead.
func (u *User) GetExtra() map[string][]string {
	out := make(map[string][]string, len(u.shared.extraKeys)+1)
	u.RangeExtra(func(k string, v []string) { out[k] = v })
	return out
}

// RangeExtra calls fn for every extra, without building a map.
func (u *User) RangeExtra(fn func(key string, values []string)) {
	for i, k := range u.shared.extraKeys {
		fn(k, u.shared.extraValues[i])
	}
	if u.credentialID[0] != "" {
		fn(user.CredentialIDKey, u.credentialID[:])
	}
}

// ExtraValue returns one extra's values, without building a map.
func (u *User) ExtraValue(key string) []string {
	if key == user.CredentialIDKey && u.credentialID[0] != "" {
		return u.credentialID[:]
	}
	if i, ok := slices.BinarySearch(u.shared.extraKeys, key); ok {
		return u.shared.extraValues[i]
	}
	return nil
}

// ExtraValue returns u's values for one extra key; for a User it builds no
// map.
func ExtraValue(u user.Info, key string) []string {
	if c, ok := u.(*User); ok {
		return c.ExtraValue(key)
	}
	return u.GetExtra()[key]
}

// RangeExtra calls fn for each of u's extras; for a User it builds no map.
func RangeExtra(u user.Info, fn func(key string, values []string)) {
	if c, ok := u.(*User); ok {
		c.RangeExtra(fn)
		return
	}
	for k, v := range u.GetExtra() {
		fn(k, v)
	}
}

// Interner shares the identities and audience lists of cached answers.
// It holds at most max identities and as many audience lists: when either
// fills up it starts afresh, and answers already made keep what they
// share. It is safe for concurrent use.
type Interner struct {
	mu   sync.Mutex
	max  int
	seed maphash.Seed
	// identities and audiences are keyed by hash; a colliding entry is
	// replaced, which costs sharing, never correctness (equal checks).
	identities map[uint64]*sharedIdentity
	audiences  map[uint64]authenticator.Audiences
}

// NewInterner returns an Interner holding up to limit identities (at
// least one).
func NewInterner(limit int) *Interner {
	return &Interner{
		max: max(1, limit), seed: maphash.MakeSeed(),
		identities: map[uint64]*sharedIdentity{}, audiences: map[uint64]authenticator.Audiences{},
	}
}

// Response returns r with its user as a *User and its audiences shared
// with every equal answer's. r is not modified. An answer with several
// credential IDs, which kube-apiserver never gives, is returned as it is.
func (in *Interner) Response(r *authenticator.Response) *authenticator.Response {
	if r == nil || r.User == nil {
		return r
	}
	extra := r.User.GetExtra()
	cred := extra[user.CredentialIDKey]
	if len(cred) > 1 {
		return r
	}
	id := &sharedIdentity{name: r.User.GetName(), uid: r.User.GetUID(), groups: r.User.GetGroups()}
	id.extraKeys = slices.Sorted(maps.Keys(extra))
	id.extraKeys = slices.DeleteFunc(id.extraKeys, func(k string) bool { return k == user.CredentialIDKey })
	id.extraValues = make([][]string, len(id.extraKeys))
	for i, k := range id.extraKeys {
		id.extraValues[i] = extra[k]
	}
	u := &User{}
	if len(cred) == 1 {
		u.credentialID[0] = strings.Clone(cred[0])
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	u.shared = in.identity(id)
	return &authenticator.Response{User: u, Audiences: in.audienceList(r.Audiences)}
}

// identity returns the interned equal of id, or interns a copy of id;
// in.mu is held.
func (in *Interner) identity(id *sharedIdentity) *sharedIdentity {
	h := in.hashIdentity(id)
	if s, ok := in.identities[h]; ok && s.equal(id) {
		return s
	}
	if len(in.identities) >= in.max {
		clear(in.identities)
	}
	s := &sharedIdentity{
		name: id.name, uid: id.uid, groups: sharedCopy(id.groups),
		extraKeys: id.extraKeys, extraValues: make([][]string, len(id.extraValues)),
	}
	for i, v := range id.extraValues {
		s.extraValues[i] = sharedCopy(v)
	}
	in.identities[h] = s
	return s
}

// sharedCopy copies a list that answers will share, with no spare
// capacity: an append to it (a caller adding a group) then copies instead
// of writing where the next append, for another answer, would overwrite
// it. slices.Clone rounds the capacity up to an allocation size class, 18
// for 17 strings.
func sharedCopy(values []string) []string { return slices.Clip(slices.Clone(values)) }

func (s *sharedIdentity) equal(o *sharedIdentity) bool {
	return s.name == o.name && s.uid == o.uid && slices.Equal(s.groups, o.groups) &&
		slices.Equal(s.extraKeys, o.extraKeys) && slices.EqualFunc(s.extraValues, o.extraValues, slices.Equal)
}

func (in *Interner) audienceList(auds authenticator.Audiences) authenticator.Audiences {
	if len(auds) == 0 {
		return auds
	}
	var h maphash.Hash
	h.SetSeed(in.seed)
	writeStrings(&h, auds)
	key := h.Sum64()
	if a, ok := in.audiences[key]; ok && slices.Equal(a, auds) {
		return a
	}
	if len(in.audiences) >= in.max {
		clear(in.audiences)
	}
	a := authenticator.Audiences(sharedCopy(auds))
	in.audiences[key] = a
	return a
}

// hashIdentity hashes id's fields with length prefixes, so that fields
// that concatenate alike hash apart.
func (in *Interner) hashIdentity(id *sharedIdentity) uint64 {
	var h maphash.Hash
	h.SetSeed(in.seed)
	writeStrings(&h, []string{id.name, id.uid})
	writeStrings(&h, id.groups)
	writeStrings(&h, id.extraKeys)
	for _, v := range id.extraValues {
		writeStrings(&h, v)
	}
	return h.Sum64()
}

// writeStrings writes a count, then each string with its length.
func writeStrings(h *maphash.Hash, values []string) {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(values)))
	h.Write(n[:])
	for _, v := range values {
		binary.LittleEndian.PutUint64(n[:], uint64(len(v)))
		h.Write(n[:])
		h.WriteString(v)
	}
}
