package jwt

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/tokenfed/tokenfed/pkg/authn/jws"
)

// forgedManyMembers is an unsigned token just under jws.MaxTokenBytes
// whose kubernetes.io claim holds as many members as fit: what anyone can
// send to an issuer whose unverifiable tokens go to its upstream, where
// PeekRefs reads it before any signature is checked.
func forgedManyMembers(tb testing.TB) string {
	enc := base64.RawURLEncoding.EncodeToString
	head := enc([]byte(`{"alg":"RS256","kid":"unknown"}`)) + "."
	sig := "." + strings.Repeat("A", 342)
	var b strings.Builder
	b.WriteString(`{"iss":"https://hub","kubernetes.io":{`)
	for i := 0; ; i++ {
		member := fmt.Sprintf(`"%04x":0`, i)
		if base64.RawURLEncoding.EncodedLen(b.Len()+len(member)+3)+len(head)+len(sig) > jws.MaxTokenBytes {
			break
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(member)
	}
	b.WriteString(`}}`)
	token := head + enc([]byte(b.String())) + sig
	if _, err := jws.Parse(token); err != nil {
		tb.Fatal(err)
	}
	return token
}

// BenchmarkPeekRefsForged is the unverified read of a forged 16 KiB token
// with 1300 members in one nested claim.
func BenchmarkPeekRefsForged(b *testing.B) {
	token := forgedManyMembers(b)
	b.ReportAllocs()
	for b.Loop() {
		PeekRefs(token)
	}
}
