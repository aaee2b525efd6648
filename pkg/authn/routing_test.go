package authn

import (
	"github.com/tokenfed/tokenfed/pkg/authn/jws"

	"cmp"
	"context"
	"crypto/rsa"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn/jwt"
	"github.com/tokenfed/tokenfed/pkg/authn/keyset"
	"github.com/tokenfed/tokenfed/pkg/authn/mapping"
	"github.com/tokenfed/tokenfed/pkg/authn/route"
)

const (
	idpURL  = "https://idp.test"
	edgeKid = "edge-key"
)

// federation is three issuers: hub and edge share one issuer URL and are
// told apart by kid; idp is an OIDC provider.
func federation(t testing.TB) *v1alpha1.Configuration {
	t.Helper()
	trusted, stray := testKeys()
	jwks := func(key any, kid string) string { return jwksOf(t, key, kid) }
	return &v1alpha1.Configuration{
		Server:  v1alpha1.Server{TLSCertFile: "tls.crt", TLSPrivateKeyFile: "tls.key"},
		Callers: v1alpha1.Callers{AllowAnonymous: true},
		Issuers: []v1alpha1.Issuer{
			{Name: "hub", URL: issuerURL, StaticKeys: &v1alpha1.StaticKeys{JWKS: trustedJWKS(t)}},
			{Name: "edge", URL: issuerURL, StaticKeys: &v1alpha1.StaticKeys{JWKS: jwks(stray.Public(), edgeKid)}},
			{
				Name: "idp", Type: v1alpha1.IssuerTypeOIDC, URL: idpURL, Audiences: []string{"kubernetes"},
				StaticKeys: &v1alpha1.StaticKeys{JWKS: jwks(trusted.Public(), "idp-key")},
			},
		},
	}
}

// jwksOf is a static JWKS holding key as kid.
func jwksOf(t testing.TB, key any, kid string) string {
	t.Helper()
	doc, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: kid, Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(doc)
}

func oidcClaims(now time.Time) map[string]any {
	return map[string]any{"iss": idpURL, "sub": "alice", "aud": "kubernetes", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

var routingCases = []struct {
	name       string
	token      func(t testing.TB) string
	wantIssuer string
	wantUser   string
	wantErr    error
}{
	{name: "hub's kid goes to hub", token: plainToken.mint, wantIssuer: "hub", wantUser: hubUser},
	{
		name: "edge's kid on the shared iss goes to edge",
		token: func(t testing.TB) string {
			_, stray := testKeys()
			return sign(t, stray, edgeKid, boundClaims(time.Now()))
		},
		wantIssuer: "edge", wantUser: "edge:system:serviceaccount:ns:sa",
	},
	{
		name: "OIDC token, mapped with the default sub claim and prefix",
		token: func(t testing.TB) string {
			trusted, _ := testKeys()
			return sign(t, trusted, "idp-key", oidcClaims(time.Now()))
		},
		wantIssuer: "idp", wantUser: "idp:alice",
	},
	{
		name: "OIDC token with an empty sub never becomes the bare prefix",
		token: func(t testing.TB) string {
			trusted, _ := testKeys()
			claims := oidcClaims(time.Now())
			claims["sub"] = ""
			return sign(t, trusted, "idp-key", claims)
		},
		wantErr: mapping.ErrEmptyUsername,
	},
	{
		name: "a kid neither sharing issuer holds",
		token: func(t testing.TB) string {
			trusted, _ := testKeys()
			return sign(t, trusted, "nobody", boundClaims(time.Now()))
		},
		wantErr: route.ErrNoKeyMatch,
	},
	{
		name: "hub's kid on a token signed by edge's key",
		token: func(t testing.TB) string {
			_, stray := testKeys()
			return sign(t, stray, knownKid, boundClaims(time.Now()))
		},
		wantErr: jws.ErrSignature,
	},
	{
		name: "an issuer nobody configured",
		token: func(t testing.TB) string {
			trusted, _ := testKeys()
			claims := boundClaims(time.Now())
			claims["iss"] = "https://evil.test"
			return sign(t, trusted, knownKid, claims)
		},
		wantErr: ErrUntrustedIssuer,
	},
	{name: "JWT-shaped garbage", token: func(testing.TB) string { return "eyJ.e30.sig" }, wantErr: jws.ErrMalformed},
	{name: "opaque token without an opaque upstream", token: func(testing.TB) string { return "opaque" }, wantErr: errOpaque},
}

func TestChainRouting(t *testing.T) {
	c := newChain(t, federation(t))
	for _, tc := range routingCases {
		t.Run(tc.name, func(t *testing.T) {
			resp, ok, err := c.AuthenticateToken(context.Background(), tc.token(t))

			if tc.wantErr == nil {
				if !ok || err != nil {
					t.Fatalf("got ok=%v err=%v, want %s", ok, err, tc.wantUser)
				}
				if got := resp.User.GetName(); got != tc.wantUser {
					t.Errorf("got user %q, want %q", got, tc.wantUser)
				}
				if got := resp.User.GetExtra()[mapping.IssuerExtraKey]; len(got) != 1 || got[0] != tc.wantIssuer {
					t.Errorf("got issuer extra %q, want [%s]", got, tc.wantIssuer)
				}
				return
			}
			if ok || !errors.Is(err, tc.wantErr) {
				t.Errorf("got ok=%v err=%v, want %v", ok, err, tc.wantErr)
			}
		})
	}
}

// TestChainCached: the answer a review got, with its issuer, for the
// audiences it was cached for and in any spelling the chain accepts;
// nothing before the review, for a refused token, or for other audiences.
func TestChainCached(t *testing.T) {
	c := newChain(t, federation(t))
	for _, tc := range routingCases {
		t.Run(tc.name, func(t *testing.T) {
			token := tc.token(t)
			if _, ok := c.Cached(token, nil); ok {
				t.Fatal("got an answer before any review, want none")
			}
			want, _, _ := c.AuthenticateToken(context.Background(), token)

			for _, spelling := range []string{token, " " + token + "\n"} {
				got, ok := c.Cached(spelling, nil)
				if tc.wantErr != nil {
					if ok {
						t.Errorf("got an answer for a refused token, want none")
					}
					continue
				}
				if !ok || got != want {
					t.Fatalf("got %v %v, want the review's answer", got, ok)
				}
				if is := got.User.GetExtra()[mapping.IssuerExtraKey]; len(is) != 1 || is[0] != tc.wantIssuer {
					t.Errorf("got issuer %q, want [%s]", is, tc.wantIssuer)
				}
			}
			if _, ok := c.Cached(token, []string{"https://other.test"}); ok {
				t.Errorf("got an answer for audiences it was not reviewed for, want none")
			}
		})
	}
}

// New fails for what validation cannot see: unreadable files and keys.
func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(cfg *v1alpha1.Configuration)
	}{
		{name: "kubeconfig that does not exist", mutate: func(cfg *v1alpha1.Configuration) {
			cfg.Issuers[0].Upstream = &v1alpha1.Upstream{Kubeconfig: filepath.Join(t.TempDir(), "missing")}
		}},
		{name: "inline JWKS that is not a key set", mutate: func(cfg *v1alpha1.Configuration) {
			cfg.Issuers[0].StaticKeys.JWKS = "{not json"
		}},
		{name: "static key file that does not exist", mutate: func(cfg *v1alpha1.Configuration) {
			cfg.Issuers[0].StaticKeys = &v1alpha1.StaticKeys{File: filepath.Join(t.TempDir(), "missing")}
		}},
		{name: "fetch CA file that does not exist", mutate: func(cfg *v1alpha1.Configuration) {
			cfg.Issuers[0].Fetch.CAFile = filepath.Join(t.TempDir(), "missing")
		}},
		{name: "OIDC issuer with an invalid claim validation rule", mutate: func(cfg *v1alpha1.Configuration) {
			cfg.Issuers[2].ClaimValidationRules = append(cfg.Issuers[2].ClaimValidationRules,
				apiserverv1.ClaimValidationRule{Expression: "claims.sub ===", Message: "broken"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := federation(t)
			tc.mutate(cfg)
			v1alpha1.SetDefaults(cfg)
			if _, err := New(context.Background(), cfg, NewChainMetrics(prometheus.NewRegistry())); err == nil {
				t.Errorf("got no error, want one")
			}
		})
	}
}

// keyServer is an issuer's JWKS endpoint: what it publishes can change, it
// can be down, and it counts fetches.
type keyServer struct {
	*httptest.Server
	fetches atomic.Int64

	mu   sync.Mutex
	keys []jose.JSONWebKey
	down bool
}

func newKeyServer(t testing.TB, keys ...jose.JSONWebKey) *keyServer {
	t.Helper()
	s := &keyServer{keys: keys}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		keys, down := s.keys, s.down
		s.mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: keys})
	}))
	t.Cleanup(s.Close)
	return s
}

// publish replaces the published keys.
func (s *keyServer) publish(keys ...jose.JSONWebKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

func (s *keyServer) fail() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = true
}

// serve makes is fetch its keys from s.
func (s *keyServer) serve(t testing.TB, is *v1alpha1.Issuer) {
	t.Helper()
	is.StaticKeys, is.JWKSURL = nil, s.URL
	is.Fetch.CAFile = writeFile(t, "ca.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}))
}

func jwk(key *rsa.PrivateKey, kid string) jose.JSONWebKey {
	return jose.JSONWebKey{Key: key.Public(), KeyID: kid, Use: "sig"}
}

// edgeToken is signed by edge's key, with edge's kid, on the shared iss.
func edgeToken(t testing.TB) string {
	_, stray := testKeys()
	return sign(t, stray, edgeKid, boundClaims(time.Now()))
}

// hubKeys is how hub holds its key k1.
type hubKeys int

const (
	hubStatic  hubKeys = iota // the operator's copy
	hubFetched                // its JWKS
	hubDown                   // its JWKS, which never answers
)

func (k hubKeys) String() string {
	return [...]string{"static keys", "fetched keys", "keys down"}[k]
}

// ownershipCases: hub and edge share an iss (unless edgeURL is set); edge's
// fetched document also lists hub's public key under hub's kid, and edge's
// cluster would confirm any token (policy always). A hub token never goes
// to edge: the kid is hub's when the operator says so (keyIDs, static
// keys), and a fetched document decides only when it alone lists the kid
// and every sharer's keys are loaded.
var ownershipCases = []struct {
	name       string
	hub        hubKeys
	hubKeyIDs  []string
	edgeKeyIDs []string
	edgeURL    string
	token      func(t testing.TB) string
	wantUser   string
	wantErr    error
	wantEdge   int64 // reviews sent to edge's cluster
}{
	{name: "hub down: edge's copy of hub's key decides nothing", hub: hubDown, token: plainToken.mint, wantErr: route.ErrKeysNotLoaded},
	{name: "hub down: hub's kid in keyIDs goes to hub", hub: hubDown, hubKeyIDs: []string{knownKid}, token: plainToken.mint, wantErr: keyset.ErrNotReady},
	{name: "hub down: edge's own kid waits for hub's keys", hub: hubDown, token: edgeToken, wantErr: route.ErrKeysNotLoaded},
	{name: "hub down: edge's kid in keyIDs goes to edge", hub: hubDown, edgeKeyIDs: []string{edgeKid}, token: edgeToken,
		wantUser: "edge:system:serviceaccount:ns:sa", wantEdge: 1},
	{name: "hub's static key beats edge's copy", hub: hubStatic, token: plainToken.mint, wantUser: hubUser},
	{name: "both documents list hub's kid", hub: hubFetched, token: plainToken.mint, wantErr: route.ErrAmbiguous},
	{name: "both documents list hub's kid, keyIDs assign it", hub: hubFetched, hubKeyIDs: []string{knownKid}, token: plainToken.mint, wantUser: hubUser},
	{name: "edge's own kid", hub: hubFetched, token: edgeToken, wantUser: "edge:system:serviceaccount:ns:sa", wantEdge: 1},
	{name: "hub's legacy token, hub without upstream", hub: hubStatic, edgeURL: "https://edge.test", token: legacyToken.mint,
		wantErr: jwt.ErrLegacyNeedsUpstream},
	{name: "hub's legacy token, hub down", hub: hubDown, edgeURL: "https://edge.test", token: legacyToken.mint,
		wantErr: route.ErrKeysNotLoaded},
}

func TestSharedIssuerKeyOwnership(t *testing.T) {
	trusted, stray := testKeys()
	for _, tc := range ownershipCases {
		t.Run(tc.name, func(t *testing.T) {
			edgeUp := newFakeUpstream(t, answerSA)
			edgeURL := cmp.Or(tc.edgeURL, issuerURL)
			cfg := hubConfig(t, nil, never)
			cfg.Issuers[0].KeyIDs = tc.hubKeyIDs
			cfg.Issuers = append(cfg.Issuers, v1alpha1.Issuer{
				Name: "edge", URL: edgeURL, KeyIDs: tc.edgeKeyIDs, Audiences: []string{issuerURL},
				Upstream: &v1alpha1.Upstream{Kubeconfig: edgeUp.kubeconfig(t), Policy: always},
			})
			newKeyServer(t, jwk(stray, edgeKid), jwk(trusted, knownKid)).serve(t, &cfg.Issuers[1])
			if tc.hub != hubStatic {
				hub := newKeyServer(t, jwk(trusted, knownKid))
				hub.serve(t, &cfg.Issuers[0])
				if tc.hub == hubDown {
					hub.fail()
				}
			}
			c := newChain(t, cfg)
			ctx := authenticator.WithAudiences(context.Background(), authenticator.Audiences{issuerURL})

			resp, ok, err := c.AuthenticateToken(ctx, tc.token(t))

			if ok != (tc.wantErr == nil) || !errors.Is(err, tc.wantErr) {
				t.Fatalf("got ok=%v err=%v, want err %v", ok, err, tc.wantErr)
			}
			if ok && resp.User.GetName() != tc.wantUser {
				t.Errorf("got user %q, want %q", resp.User.GetName(), tc.wantUser)
			}
			if n := edgeUp.hits.Load(); n != tc.wantEdge {
				t.Errorf("got %d reviews sent to edge's cluster, want %d", n, tc.wantEdge)
			}
		})
	}
}

// When hub rotates, its new kid is on no key set routing holds: routing
// refetches each sharer's keys (at most once per unknownKidCooldown, as an
// unknown kid does for its own issuer) instead of refusing hub's tokens
// until the background refresh.
func TestSharedIssuerRotation(t *testing.T) {
	trusted, stray := testKeys()
	hub := newKeyServer(t, jwk(stray, "hub-old"))
	cfg := hubConfig(t, nil, never)
	hub.serve(t, &cfg.Issuers[0])
	// Each step may refetch; the cooldown itself is keyset's to test.
	cfg.Issuers[0].Fetch.UnknownKidCooldown = metav1.Duration{Duration: time.Nanosecond}
	cfg.Issuers = append(cfg.Issuers, v1alpha1.Issuer{
		Name: "edge", URL: issuerURL, StaticKeys: &v1alpha1.StaticKeys{JWKS: jwksOf(t, stray.Public(), edgeKid)},
	})
	c := newChain(t, cfg)
	ctx := authenticator.WithAudiences(context.Background(), authenticator.Audiences{issuerURL})

	steps := []struct {
		name        string
		publish     []jose.JSONWebKey
		wantErr     error
		wantFetches int64
	}{
		{name: "hub's new kid before hub publishes it", wantErr: route.ErrNoKeyMatch, wantFetches: 1},
		{name: "hub's new kid once published", publish: []jose.JSONWebKey{jwk(stray, "hub-old"), jwk(trusted, knownKid)}, wantFetches: 2},
	}
	for _, s := range steps {
		if s.publish != nil {
			hub.publish(s.publish...)
		}
		_, ok, err := c.AuthenticateToken(ctx, plainToken.mint(t))
		if ok != (s.wantErr == nil) || !errors.Is(err, s.wantErr) {
			t.Fatalf("%s: got ok=%v err=%v, want err %v", s.name, ok, err, s.wantErr)
		}
		if n := hub.fetches.Load(); n != s.wantFetches {
			t.Errorf("%s: got %d fetches of hub's keys, want %d", s.name, n, s.wantFetches)
		}
	}
}

// strangerCases: hub has an upstream (onFailure); a token hub's keys cannot
// verify goes there only when it can be hub's. Another cluster that uses
// the same iss (kubeadm's default, or hub's URL copied) signs with its own
// key and kid: hub's current key set does not hold it, so it is not hub's.
var strangerCases = []struct {
	name         string
	url          string
	fetched      bool
	keyIDs       []string
	kid          string
	wantErr      error
	wantUpstream bool
}{
	{name: "kubeadm's default iss: another cluster's kid", url: kubeadmIssuer, kid: "other-cluster-kid", wantErr: route.ErrNoKeyMatch},
	{name: "kubeadm's default iss: hub's rotating kid in keyIDs", url: kubeadmIssuer, keyIDs: []string{"hub-next"}, kid: "hub-next", wantUpstream: true},
	{name: "kubeadm's default iss, fetched keys: another cluster's kid", url: kubeadmIssuer, fetched: true, kid: "other-cluster-kid", wantErr: route.ErrNoKeyMatch},
	{name: "hub's own URL, fetched keys: a kid hub does not publish", url: issuerURL, fetched: true, kid: "other-cluster-kid", wantErr: keyset.ErrUnpublishedKey},
	{name: "hub's own URL, fetched keys: an unpublished kid in keyIDs", url: issuerURL, fetched: true, keyIDs: []string{"hub-next"}, kid: "hub-next", wantUpstream: true},
	{name: "hub's own URL, static keys: they may lag a rotation", url: issuerURL, kid: "hub-next", wantUpstream: true},
}

const kubeadmIssuer = "https://kubernetes.default.svc.cluster.local"

func TestStrangerTokensStayOffHubsCluster(t *testing.T) {
	trusted, stray := testKeys()
	for _, tc := range strangerCases {
		t.Run(tc.name, func(t *testing.T) {
			up := newFakeUpstream(t, answerSA)
			cfg := hubConfig(t, up, onFailure)
			cfg.Issuers[0].URL, cfg.Issuers[0].KeyIDs = tc.url, tc.keyIDs
			if tc.fetched {
				newKeyServer(t, jwk(trusted, knownKid)).serve(t, &cfg.Issuers[0])
			}
			c := newChain(t, cfg)
			claims := boundClaims(time.Now())
			claims["iss"], claims["aud"] = tc.url, []string{tc.url}

			_, ok, err := c.AuthenticateToken(context.Background(), sign(t, stray, tc.kid, claims))

			if ok != (tc.wantErr == nil) || !errors.Is(err, tc.wantErr) {
				t.Fatalf("got ok=%v err=%v, want err %v", ok, err, tc.wantErr)
			}
			if got := up.hits.Load() > 0; got != tc.wantUpstream {
				t.Errorf("got upstream called %v, want %v", got, tc.wantUpstream)
			}
			// hub's own token still works.
			claims["kubernetes.io"].(map[string]any)["namespace"] = "ns"
			if _, ok, err := c.AuthenticateToken(context.Background(), sign(t, trusted, knownKid, claims)); !ok {
				t.Errorf("hub's own token: got %v, want authenticated", err)
			}
		})
	}
}
