package secretscan

import "sync"

// maxTokenBytes: longer "tokens" are request-size tests (a 1 MiB run of one
// letter), not credentials; tokenfed refuses them unread, and indexing them
// would only find their filler everywhere.
const maxTokenBytes = 64 << 10

// Registry holds the tokens a test run made.
type Registry struct {
	mu     sync.Mutex
	seen   map[string]bool
	tokens []token
}

// token is one registered token and where it came from.
type token struct {
	value, source string
}

// Default is the registry the shared token sources fill.
var Default = &Registry{}

// Register adds token to Default; source says where it came from, for the
// report (the token itself is never printed).
func Register(value, source string) { Default.Register(value, source) }

// Register adds token; repeats and empty or oversized tokens are ignored.
func (r *Registry) Register(value, source string) {
	if value == "" || len(value) > maxTokenBytes {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[value] {
		return
	}
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	r.seen[value] = true
	r.tokens = append(r.tokens, token{value: value, source: source})
}

// Len is the number of distinct tokens registered.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.tokens)
}

func (r *Registry) snapshot() []token {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]token(nil), r.tokens...)
}
