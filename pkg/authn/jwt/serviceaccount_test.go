package jwt

import (
	"github.com/tokenfed/tokenfed/pkg/authn/jws"

	"context"
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	testingclock "k8s.io/utils/clock/testing"
)

const (
	saIssuer = "https://kubernetes.default.svc.cluster.local"
	apiAud   = "https://kubernetes.default.svc.cluster.local"
)

var now = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

var (
	saRef       = map[string]any{"name": "builder", "uid": "sa-uid"}
	podRef      = map[string]any{"name": "pod-1", "uid": "pod-uid"}
	nodeRef     = map[string]any{"name": "node-1", "uid": "node-uid"}
	secretRef   = map[string]any{"name": "tok", "uid": "secret-uid"}
	podBound    = map[string]any{"namespace": "ci", "serviceaccount": saRef, "pod": podRef, "node": nodeRef}
	nodeBound   = map[string]any{"namespace": "ci", "serviceaccount": saRef, "node": nodeRef}
	secretBound = map[string]any{"namespace": "ci", "serviceaccount": saRef, "secret": secretRef}
	unbound     = map[string]any{"namespace": "ci", "serviceaccount": saRef}
	noNamespace = map[string]any{"serviceaccount": saRef}
	hookBound   = map[string]any{"namespace": "ci", "serviceaccount": saRef,
		"validatingwebhookconfiguration": map[string]any{"name": "v", "uid": "v-uid"},
		"attestations":                   map[string]any{"admissionReviewAPIGroups": []string{"admission.k8s.io"}}}
)

// boundClaims is what kube-apiserver 1.37 mints for a pod-bound token.
func boundClaims() map[string]any {
	return map[string]any{
		"iss": saIssuer, "aud": []string{apiAud, "vault"}, "sub": "system:serviceaccount:ci:builder",
		"exp": unix(now.Add(time.Hour)), "iat": unix(now), "nbf": unix(now), "jti": "jti-1",
		"kubernetes.io": podBound,
	}
}

// legacyClaims is what kube-apiserver put in secret-based tokens.
func legacyClaims() map[string]any {
	return map[string]any{
		"iss": jws.LegacyIssuer, "sub": "system:serviceaccount:ci:builder",
		"kubernetes.io/serviceaccount/namespace":            "ci",
		"kubernetes.io/serviceaccount/secret.name":          "builder-token-x",
		"kubernetes.io/serviceaccount/service-account.name": "builder",
		"kubernetes.io/serviceaccount/service-account.uid":  "sa-uid",
	}
}

func saUser(extra map[string][]string) *user.DefaultInfo {
	return &user.DefaultInfo{
		Name: "system:serviceaccount:ci:builder", UID: "sa-uid",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:ci"}, Extra: extra,
	}
}

var (
	podExtras = map[string][]string{
		"authentication.kubernetes.io/pod-name":      {"pod-1"},
		"authentication.kubernetes.io/pod-uid":       {"pod-uid"},
		"authentication.kubernetes.io/node-name":     {"node-1"},
		"authentication.kubernetes.io/node-uid":      {"node-uid"},
		"authentication.kubernetes.io/credential-id": {"JTI=jti-1"},
	}
	nodeExtras = map[string][]string{
		"authentication.kubernetes.io/node-name":     {"node-1"},
		"authentication.kubernetes.io/node-uid":      {"node-uid"},
		"authentication.kubernetes.io/credential-id": {"JTI=jti-1"},
	}
	jtiExtras = map[string][]string{"authentication.kubernetes.io/credential-id": {"JTI=jti-1"}}
)

type saCase struct {
	name string
	// base and set build the claims: set overrides base, a nil value deletes.
	base func() map[string]any
	set  map[string]any
	// token, when set, is verified as is.
	token     string
	audiences authenticator.Audiences
	noExpOK   bool
	wantErr   error
	wantUser  *user.DefaultInfo
	wantAuds  authenticator.Audiences
	wantBound BoundKind
}

func TestServiceAccountClaims(t *testing.T) {
	rsaKey, _ := testKeys()
	runSACases(t, []saCase{
		{name: "pod bound", wantUser: saUser(podExtras), wantAuds: authenticator.Audiences{apiAud}, wantBound: BoundPod},
		{name: "no jti, no credential id", set: map[string]any{"jti": nil, "kubernetes.io": unbound}, wantUser: saUser(nil), wantAuds: authenticator.Audiences{apiAud}},
		{name: "node bound", set: map[string]any{"kubernetes.io": nodeBound}, wantUser: saUser(nodeExtras), wantAuds: authenticator.Audiences{apiAud}, wantBound: BoundNode},
		{name: "secret bound", set: map[string]any{"kubernetes.io": secretBound}, wantUser: saUser(jtiExtras), wantAuds: authenticator.Audiences{apiAud}, wantBound: BoundSecret},
		{name: "unbound", set: map[string]any{"kubernetes.io": unbound}, wantUser: saUser(jtiExtras), wantAuds: authenticator.Audiences{apiAud}},
		{name: "webhook bound", set: map[string]any{"kubernetes.io": hookBound}, wantErr: errWebhookBound},
		{name: "no namespace", set: map[string]any{"kubernetes.io": noNamespace}, wantErr: ErrClaims},
		{name: "no private claims", set: map[string]any{"kubernetes.io": nil}, wantErr: ErrClaims},
		{name: "private claims of the wrong type", set: map[string]any{"kubernetes.io": "ci"}, wantErr: jws.ErrMalformed},
		{name: "duplicate claim", token: signRaw(t, rsaKey, jose.RS256, "rsa1", `{"iss":"`+saIssuer+`","iss":"x"}`, nil), wantErr: jws.ErrMalformed},
	})
}

func TestServiceAccountTimes(t *testing.T) {
	runSACases(t, []saCase{
		{name: "expired", set: map[string]any{"exp": unix(now.Add(-2 * time.Minute))}, wantErr: ErrExpired},
		{name: "expired within the leeway", set: map[string]any{"exp": unix(now.Add(-30 * time.Second))}, wantUser: saUser(podExtras), wantAuds: authenticator.Audiences{apiAud}, wantBound: BoundPod},
		{name: "nbf in the future", set: map[string]any{"nbf": unix(now.Add(2 * time.Minute))}, wantErr: ErrNotYetValid},
		{name: "iat in the future", set: map[string]any{"iat": unix(now.Add(2 * time.Minute))}, wantErr: ErrIssuedInFuture},
		{name: "missing exp", set: map[string]any{"exp": nil}, wantErr: ErrNoExpiry},
		{name: "missing exp allowed", set: map[string]any{"exp": nil}, noExpOK: true, wantUser: saUser(podExtras), wantAuds: authenticator.Audiences{apiAud}, wantBound: BoundPod},
		{name: "exp not a number", set: map[string]any{"exp": "soon"}, wantErr: jws.ErrMalformed},
	})
}

// TestServiceAccountAudiences mirrors kube-apiserver: the review's audiences
// (or the configured ones) intersected with the token's, in target order.
func TestServiceAccountAudiences(t *testing.T) {
	runSACases(t, []saCase{
		{name: "wrong iss", set: map[string]any{"iss": "https://other"}, wantErr: ErrIssuer},
		{name: "wrong aud", set: map[string]any{"aud": "vault"}, wantErr: ErrAudience},
		{name: "review audience", audiences: authenticator.Audiences{"vault"}, wantUser: saUser(podExtras), wantAuds: authenticator.Audiences{"vault"}, wantBound: BoundPod},
		{name: "review audiences intersected in review order", audiences: authenticator.Audiences{"x", "vault", apiAud}, wantUser: saUser(podExtras), wantAuds: authenticator.Audiences{"vault", apiAud}, wantBound: BoundPod},
		{name: "review audiences miss", audiences: authenticator.Audiences{"x"}, wantErr: ErrAudience},
		{name: "no aud means the API audiences", set: map[string]any{"aud": nil}, wantUser: saUser(podExtras), wantAuds: authenticator.Audiences{apiAud}, wantBound: BoundPod},
		{name: "no aud for another audience", set: map[string]any{"aud": nil}, audiences: authenticator.Audiences{"vault"}, wantErr: ErrAudience},
		{name: "legacy", base: legacyClaims, wantErr: ErrLegacyNeedsUpstream},
		{name: "legacy for another audience", base: legacyClaims, audiences: authenticator.Audiences{"vault"}, wantErr: ErrAudience},
		{name: "legacy with mismatched sub", base: legacyClaims, set: map[string]any{"sub": "system:serviceaccount:ci:other"}, wantErr: errLegacySubject},
		{name: "legacy without secret name", base: legacyClaims, set: map[string]any{"kubernetes.io/serviceaccount/secret.name": nil}, wantErr: ErrClaims},
	})
}

func runSACases(t *testing.T, cases []saCase) {
	t.Helper()
	ks := staticKeySet(t, jws.DefaultServiceAccountAlgorithms...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewServiceAccountVerifier(ServiceAccountOptions{
				Issuers: []string{saIssuer, jws.LegacyIssuer}, Audiences: []string{apiAud}, Keys: ks,
				AllowMissingExpiry: tc.noExpOK, Clock: testingclock.NewFakePassiveClock(now),
			})
			if err != nil {
				t.Fatal(err)
			}
			token, claims := tc.token, buildClaims(tc.base, tc.set)
			if token == "" {
				token = signClaims(t, claims)
			}
			ctx := context.Background()
			if tc.audiences != nil {
				ctx = authenticator.WithAudiences(ctx, tc.audiences)
			}
			got, err := v.Verify(ctx, token)
			checkResult(t, got, err, tc)
			if err == nil {
				checkExpiry(t, got.Expiry, claims["exp"])
			}
		})
	}
}

func buildClaims(base func() map[string]any, set map[string]any) map[string]any {
	if base == nil {
		base = boundClaims
	}
	c := base()
	maps.Copy(c, set)
	maps.DeleteFunc(c, func(_ string, v any) bool { return v == nil })
	return c
}

func checkResult(t *testing.T, got *Result, err error, tc saCase) {
	t.Helper()
	if tc.wantErr != nil {
		if !errors.Is(err, tc.wantErr) || got != nil {
			t.Fatalf("got (%v, %v), want error %v", got, err, tc.wantErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	if u := got.Response.User; !reflect.DeepEqual(u, tc.wantUser) {
		t.Fatalf("got user %+v, want %+v", u, tc.wantUser)
	}
	if !reflect.DeepEqual(got.Response.Audiences, tc.wantAuds) || got.BoundTo != tc.wantBound {
		t.Fatalf("got audiences %q bound %s, want %q %s", got.Response.Audiences, got.BoundTo, tc.wantAuds, tc.wantBound)
	}
}

// checkExpiry compares Result.Expiry with the exp claim, zero when absent.
func checkExpiry(t *testing.T, got time.Time, exp any) {
	t.Helper()
	var want time.Time
	if e, ok := exp.(int64); ok {
		want = time.Unix(e, 0)
	}
	if !got.Equal(want) {
		t.Fatalf("got expiry %s, want %s", got, want)
	}
}

func TestNewServiceAccountVerifierValidation(t *testing.T) {
	ks := staticKeySet(t)
	for _, opts := range []ServiceAccountOptions{
		{Audiences: []string{"a"}, Keys: ks},
		{Issuers: []string{"i"}, Keys: ks},
		{Issuers: []string{"i"}, Audiences: []string{"a"}},
	} {
		if _, err := NewServiceAccountVerifier(opts); err == nil || !strings.Contains(err.Error(), "needs") {
			t.Errorf("options %+v: got error %v, want a missing-field error", opts, err)
		}
	}
}
