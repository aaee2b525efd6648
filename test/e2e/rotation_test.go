package e2e

import (
	"encoding/base64"
	"regexp"
	"strconv"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/federation"
)

// TestSigningKeyRotation restarts the hub's kube-apiserver with a new
// signing key, first keeping the old public key and then without it.
// Background refresh is set to an hour so every fetch is one the test
// caused: a new kid costs exactly one refetch, and once the hub stops
// publishing the old key, tokens signed with it are rejected after the next
// refetch (here triggered by an unknown kid; in production also by the
// background refresh, at most fetch.maxRefresh later).
func TestSigningKeyRotation(t *testing.T) {
	f := startFederation(t, federation.Options{WebhookVersion: "v1", MutateConfig: func(cfg *v1alpha1.Configuration, _ *controlplane.ControlPlane) {
		cfg.Cache.SuccessTTL = metav1.Duration{Duration: time.Second}
		cfg.Cache.FailureTTL = metav1.Duration{Duration: time.Second}
		fetch := &cfg.Issuers[0].Fetch
		fetch.MinRefresh, fetch.MaxRefresh = metav1.Duration{Duration: time.Hour}, metav1.Duration{Duration: time.Hour}
		fetch.UnknownKidCooldown = metav1.Duration{Duration: time.Second}
	}})
	tf, err := kubernetes.NewForConfig(f.Tokenfed.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	oldToken := localToken(t, f.Hub)
	assertReview(t, tf, oldToken, true, "old key, before rotation")

	oldPublicKey := f.Hub.ServiceAccountPublicKeyFile
	newKey, err := controlplane.NewSigningKeyFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	restartHub(t, f, func(o *controlplane.Options) {
		o.SigningKeyFile, o.ServiceAccountKeyFiles = newKey, []string{oldPublicKey}
	})
	newToken, err := f.Hub.CreateToken(ctx(t), "local", "own", controlplane.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before := fetches(t, f)
	assertReview(t, tf, newToken, true, "new kid, first review")
	if got := fetches(t, f) - before; got != 1 {
		t.Fatalf("got %d key fetches for a new kid, want exactly 1", got)
	}
	assertReview(t, tf, oldToken, true, "old key still published")

	restartHub(t, f, func(o *controlplane.Options) { o.ServiceAccountKeyFiles = nil })
	time.Sleep(1100 * time.Millisecond) // past the cooldown and the 1s cache TTL
	assertReview(t, tf, unknownKidToken(f.Hub.IssuerURL), false, "unknown kid triggers a refetch")
	time.Sleep(1100 * time.Millisecond)
	assertReview(t, tf, oldToken, false, "old key no longer published")
	assertReview(t, tf, newToken, true, "new key after the old one is gone")
}

func restartHub(t *testing.T, f *federation.Federation, mutate func(*controlplane.Options)) {
	t.Helper()
	if err := f.Hub.Restart(ctx(t), mutate); err != nil {
		t.Fatalf("restarting the hub: %v", err)
	}
	if err := f.Hub.AllowAnonymousIssuerDiscovery(ctx(t)); err != nil {
		t.Fatal(err)
	}
}

func assertReview(t *testing.T, c kubernetes.Interface, token string, want bool, what string) {
	t.Helper()
	tr, err := c.AuthenticationV1().TokenReviews().Create(ctx(t), &authv1.TokenReview{Spec: authv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if tr.Status.Authenticated != want {
		t.Fatalf("%s: got authenticated=%v (%s), want %v", what, tr.Status.Authenticated, tr.Status.Error, want)
	}
}

var fetchLine = regexp.MustCompile(`tokenfed_keyset_fetches_total\{issuer="hub",result="success"\} (\d+)`)

func fetches(t *testing.T, f *federation.Federation) int {
	t.Helper()
	m := fetchLine.FindStringSubmatch(metric(t, f.Tokenfed, "tokenfed_keyset_fetches_total"))
	if m == nil {
		t.Fatalf("no successful fetch counter for issuer hub")
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// unknownKidToken is unsigned: it is rejected, but only after its kid was
// looked up, which is what makes tokenfed refetch.
func unknownKidToken(issuer string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","kid":"rotated-away"}`)) + "." +
		enc([]byte(`{"iss":"`+issuer+`","sub":"system:serviceaccount:local:own","aud":["`+issuer+`"],"exp":4102444800}`)) + "." +
		enc([]byte("not-a-signature"))
}
