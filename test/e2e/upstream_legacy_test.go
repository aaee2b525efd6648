package e2e

import (
	"github.com/tokenfed/tokenfed/pkg/authn/jws"

	"crypto/rsa"
	"encoding/json"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/keyutil"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn/jwt"
	"github.com/tokenfed/tokenfed/pkg/authn/keyset"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/jwstest"
)

// TestUpstreamLegacyToken: a secret-based token, made the way
// kube-controller-manager's token controller makes one, can only be
// confirmed by its cluster (the Secret must still exist). Under onFailure
// tokenfed asks the hub and accepts it, until the Secret is deleted; under
// never it refuses it, saying why. Both configurations run as two tokenfed
// processes on one hub.
func TestUpstreamLegacyToken(t *testing.T) {
	hub := startUpstreamHub(t)
	const ns, sa, secret = "legacy", "robot", "robot-token"
	token := legacySecretToken(t, hub, ns, sa, secret)
	if st, err := hub.TokenReview(ctx(t), token, nil); err != nil || !st.Authenticated {
		t.Fatalf("hub's own review of the legacy token: got %+v, %v; want authenticated", st, err)
	}

	const successTTL = time.Second
	onFailure := tokenfedClient(t, startUpstreamTokenfed(t, "onfailure", v1alpha1.Configuration{
		Cache:   v1alpha1.Cache{SuccessTTL: metav1.Duration{Duration: successTTL}},
		Issuers: []v1alpha1.Issuer{hubWithUpstream(hub, v1alpha1.UpstreamOnFailure, hub.Kubeconfig)},
	}))
	never := tokenfedClient(t, startUpstreamTokenfed(t, "never", v1alpha1.Configuration{
		Issuers: []v1alpha1.Issuer{hubWithUpstream(hub, v1alpha1.UpstreamNever, hub.Kubeconfig)},
	}))

	wantUser(t, mustReview(t, onFailure, token, "onFailure"), "hub:system:serviceaccount:"+ns+":"+sa, "onFailure")
	st := mustReview(t, never, token, "never")
	if st.Authenticated || !strings.Contains(st.Error, jwt.ErrLegacyNeedsUpstream.Error()) {
		t.Fatalf("never: got authenticated=%v error=%q, want rejected with %q", st.Authenticated, st.Error, jwt.ErrLegacyNeedsUpstream)
	}

	if err := hub.Client.CoreV1().Secrets(ns).Delete(ctx(t), secret, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	elapsed, reason := pollUntilRejected(t, onFailure, token, hubTokenCacheTTL+successTTL+revocationMargin)
	t.Logf("onFailure: legacy token rejected %s after its Secret was deleted (%q)", elapsed.Round(time.Millisecond), reason)
}

// legacySecretToken creates ns, service account sa and a Secret of type
// kubernetes.io/service-account-token holding a legacy token signed with
// the hub's signing key, as the token controller (pkg/serviceaccount
// JWTTokenGenerator with LegacyClaims) would. No controller manager runs
// here, so the test is that controller. The hub accepts such a token while
// the Secret exists, holds the same token, and the service account lives
// with the token's UID; no ca.crt or namespace data and no label are needed
// (kube-apiserver's pkg/serviceaccount/legacy.go reads data.token only, and
// refuses the token once kubernetes.io/legacy-token-invalid-since is set).
// API validation of this Secret type requires the service-account.name
// annotation; the uid one is what the token controller also writes.
func legacySecretToken(t *testing.T, hub *controlplane.ControlPlane, ns, sa, secret string) string {
	t.Helper()
	if _, err := hub.CreateNamespace(ctx(t), ns); err != nil {
		t.Fatal(err)
	}
	acct, err := hub.CreateServiceAccount(ctx(t), ns, sa)
	if err != nil {
		t.Fatal(err)
	}
	token := signLegacy(t, hub.SigningKeyFile, map[string]string{
		"iss":                                    jws.LegacyIssuer,
		"sub":                                    "system:serviceaccount:" + ns + ":" + sa,
		"kubernetes.io/serviceaccount/namespace": ns,
		"kubernetes.io/serviceaccount/secret.name":          secret,
		"kubernetes.io/serviceaccount/service-account.name": sa,
		"kubernetes.io/serviceaccount/service-account.uid":  string(acct.UID),
	})
	obj := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: secret, Annotations: map[string]string{
			corev1.ServiceAccountNameKey: sa,
			corev1.ServiceAccountUIDKey:  string(acct.UID),
		}},
		Type: corev1.SecretTypeServiceAccountToken,
		Data: map[string][]byte{corev1.ServiceAccountTokenKey: []byte(token)},
	}
	if _, err := hub.Client.CoreV1().Secrets(ns).Create(ctx(t), obj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return token
}

// signLegacy signs claims RS256 with the PKCS#8 PEM key in keyFile, with
// kube-apiserver's kid for its public key, which is also how the hub's
// JWKS names it: that is how tokenfed routes legacy tokens, whose iss every
// cluster shares.
func signLegacy(t *testing.T, keyFile string, claims map[string]string) string {
	t.Helper()
	key, err := keyutil.PrivateKeyFromFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("hub signing key: got %T, want *rsa.PrivateKey", key)
	}
	kid, err := keyset.KeyIDFromPublicKey(&rk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	token, err := jwstest.Sign(rk, jose.RS256, kid, string(payload), nil)
	if err != nil {
		t.Fatal(err)
	}
	return token
}
