package jwt

import (
	"github.com/tokenfed/tokenfed/pkg/authn/jws"

	"encoding/base64"
	"encoding/json"
	"testing"
	"time"
)

func unsigned(t *testing.T, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc(payload) + "." + enc([]byte("sig"))
}

// TestPeekRefs reads what a token depends on as the validators would,
// from bound and legacy claims, and nothing from incomplete ones.
func TestPeekRefs(t *testing.T) {
	iat := time.Unix(1_700_000_000, 0)
	bound := unsigned(t, map[string]any{"iss": "https://hub", "iat": iat.Unix(), "kubernetes.io": map[string]any{
		"namespace": "ns", "serviceaccount": map[string]any{"name": "app", "uid": "sa-1"},
		"pod": map[string]any{"name": "web", "uid": "pod-1"}, "node": map[string]any{"name": "n1", "uid": "node-1"},
	}})
	refs, ok := PeekRefs(bound)
	want := Refs{Namespace: "ns", ServiceAccount: ObjectRef{"app", "sa-1", true}, Pod: ObjectRef{"web", "pod-1", true}, Node: ObjectRef{"n1", "node-1", true}, IssuedAt: iat}
	if !ok || refs != want {
		t.Errorf("bound: got %+v, %v; want %+v", refs, ok, want)
	}
	legacy := unsigned(t, map[string]any{
		"iss": jws.LegacyIssuer, "sub": "system:serviceaccount:ns:robot",
		"kubernetes.io/serviceaccount/namespace":            "ns",
		"kubernetes.io/serviceaccount/secret.name":          "robot-token",
		"kubernetes.io/serviceaccount/service-account.name": "robot",
		"kubernetes.io/serviceaccount/service-account.uid":  "sa-2",
	})
	refs, ok = PeekRefs(legacy)
	want = Refs{Namespace: "ns", ServiceAccount: ObjectRef{"robot", "sa-2", true}, Secret: ObjectRef{Name: "robot-token", Set: true}, Legacy: true}
	if !ok || refs != want {
		t.Errorf("legacy: got %+v, %v; want %+v", refs, ok, want)
	}
	for name, token := range map[string]string{
		"no kubernetes.io claims": unsigned(t, map[string]any{"iss": "https://hub", "sub": "x"}),
		"no ServiceAccount UID":   unsigned(t, map[string]any{"kubernetes.io": map[string]any{"namespace": "ns", "serviceaccount": map[string]any{"name": "app"}}}),
		"legacy, sub of another":  unsigned(t, map[string]any{"iss": jws.LegacyIssuer, "sub": "system:serviceaccount:ns:other", "kubernetes.io/serviceaccount/namespace": "ns", "kubernetes.io/serviceaccount/secret.name": "s", "kubernetes.io/serviceaccount/service-account.name": "robot", "kubernetes.io/serviceaccount/service-account.uid": "u"}),
		"not a JWT":               "opaque",
		"payload not base64url":   "e30.!!!.sig",
	} {
		if refs, ok := PeekRefs(token); ok {
			t.Errorf("%s: got %+v, want none", name, refs)
		}
	}
}
