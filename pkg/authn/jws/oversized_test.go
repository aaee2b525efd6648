package jws

import (
	"crypto"
	"crypto/elliptic"
	"errors"
	"strings"
	"testing"
)

// TestCanonicalSignatureLeavesOversizedTokensUnread: every review, and
// the callers' gate up to three times before it (Cached, IssuersOf),
// canonicalises the token before Parse refuses one over MaxTokenBytes. A
// token of up to 1 MiB (the body limit) with a high-s ES256 signature made
// CanonicalSignature base64-decode and JSON-decode its whole header,
// milliseconds each time, for a token refused anyway. It must be returned
// as it is without reading it.
func TestCanonicalSignatureLeavesOversizedTokensUnread(t *testing.T) {
	es256 := newESKey(t, elliptic.P256(), crypto.SHA256)
	for _, size := range []int{MaxTokenBytes, 64 << 10, 900 << 10} {
		header := `{"alg":"ES256","pad":"` + strings.Repeat("a", size) + `"}`
		token := es256.sign(t, header, pl, true)
		if len(token) <= MaxTokenBytes {
			t.Fatalf("token of %d bytes is not oversized", len(token))
		}
		if allocs := testing.AllocsPerRun(5, func() {
			if got := CanonicalSignature(token); got != token {
				t.Fatalf("a token of %d bytes was rewritten", len(token))
			}
		}); allocs != 0 {
			t.Errorf("a token of %d bytes: %v allocations, want 0 (it is refused by Parse whatever its spelling)", len(token), allocs)
		}
		if _, err := Parse(token); !errors.Is(err, ErrMalformed) {
			t.Fatalf("Parse of a token of %d bytes: got %v, want %v", len(token), err, ErrMalformed)
		}
	}
}

// BenchmarkCanonicalSignatureOversized is a 900 KiB token with a high-s
// ES256 signature, as a caller can put in a review's spec.token.
func BenchmarkCanonicalSignatureOversized(b *testing.B) {
	es256 := newESKey(b, elliptic.P256(), crypto.SHA256)
	token := es256.sign(b, `{"alg":"ES256","pad":"`+strings.Repeat("a", 900<<10)+`"}`, pl, true)
	b.ReportAllocs()
	for b.Loop() {
		CanonicalSignature(token)
	}
}
