package e2e

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tokenfed/tokenfed/pkg/authn/mapping"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/federation"
)

type tokenCase struct {
	name string
	opts func(pod *corev1.Pod, secret *corev1.Secret) controlplane.TokenOptions
}

var tokenCases = []tokenCase{
	{"plain", func(*corev1.Pod, *corev1.Secret) controlplane.TokenOptions { return controlplane.TokenOptions{} }},
	{"bound to a pod", func(p *corev1.Pod, _ *corev1.Secret) controlplane.TokenOptions {
		return controlplane.TokenOptions{BoundPod: &controlplane.BoundObject{Name: p.Name, UID: p.UID}}
	}},
	{"bound to a secret", func(_ *corev1.Pod, s *corev1.Secret) controlplane.TokenOptions {
		return controlplane.TokenOptions{BoundSecret: &controlplane.BoundObject{Name: s.Name, UID: s.UID}}
	}},
	{"custom audiences", func(*corev1.Pod, *corev1.Secret) controlplane.TokenOptions {
		return controlplane.TokenOptions{Audiences: []string{"vault", federation.MemberAudience}}
	}},
}

// reviewAudiences are the spec.audiences each token is reviewed with.
var reviewAudiences = map[string][]string{
	"empty":          nil,
	"member":         {federation.MemberAudience},
	"wrong audience": {"not-an-audience"},
}

// TestDifferentialAgainstHub: for real tokens minted by the hub, tokenfed's
// answer with the prefix removed equals the hub's own TokenReview field by
// field: authenticated, username, UID, groups, extras, audiences.
func TestDifferentialAgainstHub(t *testing.T) {
	f := startFederation(t, federation.Options{WebhookVersion: "v1"})
	pod, secret := hubObjects(t, f.Hub)
	differential(t, f, pod, secret)
}

// differential reviews a token of each tokenCase with each of
// reviewAudiences, at the hub and through tokenfed, and wants the same
// answers.
func differential(t *testing.T, f *federation.Federation, pod *corev1.Pod, secret *corev1.Secret) {
	t.Helper()
	tokenfed, err := kubernetes.NewForConfig(f.Tokenfed.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	authenticated := 0
	for _, tc := range tokenCases {
		token, err := f.Hub.CreateToken(ctx(t), "diff", "app", tc.opts(pod, secret))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for audName, auds := range reviewAudiences {
			t.Run(tc.name+"/"+audName, func(t *testing.T) {
				want, err := f.Hub.TokenReview(ctx(t), token, auds)
				if err != nil {
					t.Fatal(err)
				}
				got := reviewVia(t, tokenfed, token, auds)
				compareWithHub(t, got, *want)
				if got.Authenticated {
					authenticated++
				}
			})
		}
	}
	// Guard against a vacuous pass: the hub accepts exactly these four
	// (each token for its own audiences), and so must tokenfed.
	if authenticated != 4 {
		t.Fatalf("got %d authenticated reviews, want 4 (plain, pod and secret with no audiences; custom with member)", authenticated)
	}
}

func hubObjects(t *testing.T, hub *controlplane.ControlPlane) (*corev1.Pod, *corev1.Secret) {
	t.Helper()
	if _, err := hub.CreateNamespace(ctx(t), "diff"); err != nil {
		t.Fatal(err)
	}
	if _, err := hub.CreateServiceAccount(ctx(t), "diff", "app"); err != nil {
		t.Fatal(err)
	}
	pod, err := hub.CreatePod(ctx(t), "diff", "web-0", "app")
	if err != nil {
		t.Fatal(err)
	}
	secret, err := hub.Client.CoreV1().Secrets("diff").Create(ctx(t), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "binding"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pod, secret
}

func reviewVia(t *testing.T, c kubernetes.Interface, token string, auds []string) authv1.TokenReviewStatus {
	t.Helper()
	tr, err := c.AuthenticationV1().TokenReviews().Create(ctx(t), &authv1.TokenReview{Spec: authv1.TokenReviewSpec{Token: token, Audiences: auds}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("review via tokenfed: %v", err)
	}
	return tr.Status
}

// compareWithHub strips what federation adds (the prefix and the issuer
// extra) and what the hub's own chain adds (system:authenticated, which the
// calling apiserver adds for itself), then wants equality.
func compareWithHub(t *testing.T, got, want authv1.TokenReviewStatus) {
	t.Helper()
	if got.Authenticated != want.Authenticated {
		t.Fatalf("got authenticated=%v (%s), hub says %v (%s)", got.Authenticated, got.Error, want.Authenticated, want.Error)
	}
	if !want.Authenticated {
		if got.Error == "" {
			t.Fatalf("got no status.error for a rejected token")
		}
		return
	}
	if got.User.Extra[mapping.IssuerExtraKey].String() != "[hub]" {
		t.Fatalf("got issuer extra %v, want [hub]", got.User.Extra[mapping.IssuerExtraKey])
	}
	delete(got.User.Extra, mapping.IssuerExtraKey)
	got.User.Username = strings.TrimPrefix(got.User.Username, "hub:")
	for i, g := range got.User.Groups {
		got.User.Groups[i] = strings.TrimPrefix(g, "hub:")
	}
	want.User.Groups = without(want.User.Groups, "system:authenticated")
	if diff := cmp.Diff(want.User, got.User); diff != "" {
		t.Fatalf("user differs from the hub's (-hub +tokenfed):\n%s", diff)
	}
	if diff := cmp.Diff(want.Audiences, got.Audiences); diff != "" {
		t.Fatalf("audiences differ (-hub +tokenfed):\n%s", diff)
	}
}

func without(in []string, drop string) []string {
	var out []string
	for _, s := range in {
		if s != drop {
			out = append(out, s)
		}
	}
	return out
}
