package e2e

import (
	"strings"
	"testing"

	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/federation"
)

// TestMemberTrustsHubThroughTokenfed: a member kube-apiserver with tokenfed
// as its webhook, in kube-apiserver's default version (v1beta1) and in v1.
func TestMemberTrustsHubThroughTokenfed(t *testing.T) {
	for _, version := range []string{"", "v1"} {
		name := version
		if name == "" {
			name = "default-v1beta1"
		}
		t.Run(name, func(t *testing.T) {
			f := startFederation(t, federation.Options{WebhookVersion: version})
			hubToken := hubTokenForMember(t, f, "team-a", "app")

			t.Run("hub token is the prefixed hub identity", func(t *testing.T) {
				out, stderr, err := f.Member.KubectlAs(ctx(t), hubToken, "auth", "whoami")
				if err != nil || !strings.Contains(out, "hub:system:serviceaccount:team-a:app") {
					t.Fatalf("got %q %q %v, want username hub:system:serviceaccount:team-a:app", out, stderr, err)
				}
				if !strings.Contains(out, "tokenfed.io/issuer") {
					t.Fatalf("got %q, want the tokenfed.io/issuer extra", out)
				}
			})
			t.Run("token tokenfed rejects gets 401", func(t *testing.T) {
				_, stderr, err := f.Member.KubectlAs(ctx(t), "not-a-valid-token", "auth", "whoami")
				if err == nil || !strings.Contains(stderr, "Unauthorized") {
					t.Fatalf("got err=%v stderr=%q, want Unauthorized", err, stderr)
				}
			})
			t.Run("member's own service accounts still work", func(t *testing.T) {
				localToken := localToken(t, f.Member)
				out, stderr, err := f.Member.KubectlAs(ctx(t), localToken, "auth", "whoami")
				if err != nil || !strings.Contains(out, "system:serviceaccount:local:own") || strings.Contains(out, "hub:") {
					t.Fatalf("got %q %q %v, want the unprefixed local identity", out, stderr, err)
				}
			})
			wantVersion := "v1beta1"
			if version != "" {
				wantVersion = version
			}
			if got := metric(t, f.Tokenfed, `tokenfed_tokenreview_requests_total{api_version="`+wantVersion+`",code="200",outcome="authenticated"}`); got == "" {
				t.Fatalf("tokenfed saw no authenticated %s review; the member must send %s", wantVersion, wantVersion)
			}
		})
	}
}

func hubTokenForMember(t *testing.T, f *federation.Federation, ns, sa string) string {
	t.Helper()
	if _, err := f.Hub.CreateNamespace(ctx(t), ns); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Hub.CreateServiceAccount(ctx(t), ns, sa); err != nil {
		t.Fatal(err)
	}
	tok, err := f.Hub.CreateToken(ctx(t), ns, sa, controlplane.TokenOptions{Audiences: []string{federation.MemberAudience}})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func localToken(t *testing.T, cp *controlplane.ControlPlane) string {
	t.Helper()
	if _, err := cp.CreateNamespace(ctx(t), "local"); err != nil {
		t.Fatal(err)
	}
	if _, err := cp.CreateServiceAccount(ctx(t), "local", "own"); err != nil {
		t.Fatal(err)
	}
	tok, err := cp.CreateToken(ctx(t), "local", "own", controlplane.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
