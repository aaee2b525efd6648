package staticissuer

import "testing"

// NewT is New for a test: it fails the test when the issuer cannot be
// made.
func NewT(t testing.TB, name string) *Issuer {
	t.Helper()
	is, err := New(name)
	if err != nil {
		t.Fatal(err)
	}
	return is
}
