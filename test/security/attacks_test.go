package security

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
)

// Substrings of the status.error each attack must get: the reason, not just
// any failure, so that a token rejected for the wrong reason is noticed.
const (
	errMalformed = "malformed token"
	errNotJWT    = "not a JWT"
	errEncrypted = "encrypted tokens are not supported"
	errAlg       = "signing algorithm not allowed"
	errSignature = "invalid signature"
	errUnknownID = "unknown signing key"
	errCrit      = "unsupported critical header"
	errExpired   = "has expired"
	errNotYet    = "not valid yet"
	errFutureIat = "issued in the future"
	errNoExpiry  = "has no expiry"
	errIssuer    = "not trusted"
	errAudience  = "audiences do not match"
	errClaims    = "claims are incomplete"
)

type attackCase struct {
	name      string
	token     string
	audiences []string
	wantErr   string
}

// maxBody is tokenfed's default request body limit (1 MiB).
const maxBody = v1alpha1.DefaultMaxRequestBodyBytes

// TestAttacks sends forged, expired, misdirected and malformed tokens to a
// real tokenfed. Each gets HTTP 200, authenticated=false and a short error
// that quotes no part of the token, twice (computed, then cached); the jku
// and x5u server named in headers sees no request; and tokenfed keeps serving.
func TestAttacks(t *testing.T) {
	iss := newFakeIssuer(t)
	spy := newSpy(t)
	tf := startTokenfed(t, edgeConfig(iss, v1alpha1.Fetch{}))

	t.Run("control", func(t *testing.T) { testControls(t, tf, iss) })
	for _, tc := range attackCases(t, iss, spy.URL) {
		t.Run(tc.name, func(t *testing.T) {
			for _, pass := range []string{"computed", "cached"} {
				if msg := rejectionProblem(tf.review(t, tc.token, tc.audiences...), tc.token, tc.wantErr); msg != "" {
					t.Fatalf("%s: %s", pass, msg)
				}
			}
		})
	}
	t.Run("body over 1 MiB gets the documented 400", func(t *testing.T) {
		body := reviewBody(strings.Repeat("e", maxBody), nil)
		r, err := tf.post(body)
		if err != nil {
			t.Fatal(err)
		}
		var st metav1.Status
		if r.code != http.StatusBadRequest || json.Unmarshal([]byte(r.body), &st) != nil || !strings.Contains(st.Message, "larger than the limit") {
			t.Fatalf("got HTTP %d %.200s, want 400 with a Status saying the body is larger than the limit", r.code, r.body)
		}
	})
	if got := spy.hits.Load(); got != 0 {
		t.Fatalf("got %d requests to the server named by jku/x5u/iss, want 0", got)
	}
	assertStillServing(t, tf, iss)
}

// testControls: valid tokens of both key types are accepted with the
// prefixed identity, so the rejections above are not an artefact of a
// tokenfed that rejects everything.
func testControls(t *testing.T, tf *tokenfed, iss *fakeIssuer) {
	rs, rsJTI := iss.token(t, rs256)
	es, esJTI := iss.token(t, es256)
	// Names that differ from real claims only by case: JWT claim names are
	// case-sensitive, but go-oidc and encoding/json fold them, so such a
	// payload means two things to two decoders. It is refused as malformed.
	caseVariant, _ := iss.token(t, rs256, map[string]any{
		"ISS":           "https://evil.example",
		"Kubernetes.io": map[string]any{"namespace": "kube-system", "serviceaccount": map[string]any{"name": "admin", "uid": "x"}},
	})
	tests := []struct {
		name      string
		token     string
		jti       string
		audiences []string
		wantAuds  []string
	}{
		{"RS256", rs, rsJTI, nil, []string{iss.URL()}},
		{"ES256", es, esJTI, nil, []string{iss.URL()}},
		{"review audiences are intersected", rs, rsJTI, []string{"https://other.example", iss.URL()}, []string{iss.URL()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assertAccepted(t, tf.review(t, tc.token, tc.audiences...), tc.jti, tc.wantAuds)
		})
	}
	t.Run("claim names differing by case are refused", func(t *testing.T) {
		assertRejected(t, tf.review(t, caseVariant), caseVariant, "differ only in letter case")
	})
}

// attackCases are the tokens that must be refused. spy is a server that
// headers and claims point at; nothing may contact it.
func attackCases(t *testing.T, iss *fakeIssuer, spy string) []attackCase {
	valid, _ := iss.token(t, rs256)
	seg := strings.Split(valid, ".")
	other, _ := iss.token(t, rs256)
	claims := mustJSON(iss.claims())
	now := time.Now()
	tok := func(s signer, edits map[string]any) string {
		token, _ := iss.token(t, s, edits)
		return token
	}
	remote := map[string]any{"jku": spy + "/jwks", "x5u": spy + "/cert.pem"}
	jwe := b64([]byte(`{"alg":"RSA-OAEP","enc":"A256GCM","kid":"rsa-1"}`)) + ".AAAA.BBBB.CCCC.DDDD"

	return []attackCase{
		// Algorithms.
		{name: "alg none, empty signature", token: rawToken(`{"alg":"none","typ":"JWT"}`, string(claims), ""), wantErr: errMalformed},
		{name: "alg none with a signature", token: rawToken(`{"alg":"none","kid":"rsa-1"}`, string(claims), seg[2]), wantErr: errAlg},
		{name: "alg nOnE", token: rawToken(`{"alg":"nOnE","kid":"rsa-1"}`, string(claims), seg[2]), wantErr: errAlg},
		{name: "HS256 keyed with the RSA public key PEM", token: sign(t, hsConfusion(), string(claims), nil), wantErr: errAlg},
		{name: "RS256 header with the EC key's kid", token: sign(t, rs256.withKid(ecKid), string(claims), nil), wantErr: errAlg},
		// Signatures and keys.
		{name: "signature bytes flipped", token: seg[0] + "." + seg[1] + "." + flipBytes(seg[2]), wantErr: errSignature},
		{name: "signature of another token", token: seg[0] + "." + seg[1] + "." + strings.Split(other, ".")[2], wantErr: errSignature},
		{name: "attacker key with a trusted kid", token: sign(t, attacker.withKid(ecKid), string(claims), nil), wantErr: errSignature},
		{name: "unknown kid", token: sign(t, rs256.withKid("nope"), string(claims), nil), wantErr: errUnknownID},
		{name: "kid with path characters", token: sign(t, rs256.withKid("../../etc/passwd"), string(claims), nil), wantErr: errUnknownID},
		{name: "kid as a URL of the spy", token: sign(t, attacker.withKid(spy+"/jwks"), string(claims), nil), wantErr: errUnknownID},
		// Headers that name keys elsewhere: never fetched, never trusted.
		{name: "jku to the attacker's JWKS", token: sign(t, attacker, string(claims), map[string]any{"jku": spy + "/jwks"}), wantErr: errUnknownID},
		{name: "x5u to the attacker's certificate", token: sign(t, attacker, string(claims), map[string]any{"x5u": spy + "/cert.pem"}), wantErr: errUnknownID},
		{name: "jku and x5u with a trusted kid", token: sign(t, attacker.withKid(ecKid), string(claims), remote), wantErr: errSignature},
		{name: "attacker key embedded as jwk", token: sign(t, attacker.withKid(""), string(claims), map[string]any{"jwk": jose.JSONWebKey{Key: attackerKey().Public()}}), wantErr: errSignature},
		{name: "unknown crit header", token: sign(t, rs256, string(claims), map[string]any{"crit": []string{"urn:example:ext"}, "urn:example:ext": true}), wantErr: errCrit},
		// Time.
		{name: "expired an hour ago", token: tok(rs256, map[string]any{"exp": now.Add(-time.Hour).Unix(), "iat": now.Add(-2 * time.Hour).Unix(), "nbf": now.Add(-2 * time.Hour).Unix()}), wantErr: errExpired},
		{name: "expired beyond the 1m leeway", token: tok(rs256, map[string]any{"exp": now.Add(-90 * time.Second).Unix(), "iat": now.Add(-time.Hour).Unix(), "nbf": now.Add(-time.Hour).Unix()}), wantErr: errExpired},
		{name: "nbf beyond the 1m leeway", token: tok(rs256, map[string]any{"nbf": now.Add(2 * time.Minute).Unix()}), wantErr: errNotYet},
		{name: "iat in the future", token: tok(rs256, map[string]any{"iat": now.Add(5 * time.Minute).Unix()}), wantErr: errFutureIat},
		{name: "missing exp", token: tok(es256, map[string]any{"exp": nil}), wantErr: errNoExpiry},
		{name: "exp of the wrong type", token: tok(rs256, map[string]any{"exp": "9999999999"}), wantErr: errMalformed},
		// Issuer and audience.
		{name: "iss of an issuer not configured", token: tok(rs256, map[string]any{"iss": "https://other-cluster.example"}), wantErr: errIssuer},
		{name: "iss pointing at the spy", token: tok(rs256, map[string]any{"iss": spy}), wantErr: errIssuer},
		{name: "iss with a trailing slash", token: tok(rs256, map[string]any{"iss": iss.URL() + "/"}), wantErr: errIssuer},
		{name: "no iss", token: tok(rs256, map[string]any{"iss": nil}), wantErr: errIssuer},
		{name: "review audiences name someone else", token: valid, audiences: []string{"https://someone-else.example"}, wantErr: errAudience},
		{name: "token aud is someone else", token: tok(rs256, map[string]any{"aud": []string{"https://someone-else.example"}}), wantErr: errAudience},
		{name: "no kubernetes.io claims", token: tok(rs256, map[string]any{"kubernetes.io": nil}), wantErr: errClaims},
		// Duplicate claim names, properly signed: two readers of one payload
		// must never see two identities.
		{name: "sub twice", token: sign(t, rs256, duplicate(iss, "sub", saUsername, "system:serviceaccount:kube-system:admin"), nil), wantErr: errMalformed},
		{name: "iss twice, configured first", token: sign(t, rs256, duplicate(iss, "iss", iss.URL(), "https://other-cluster.example"), nil), wantErr: errMalformed},
		{name: "iss twice, configured last", token: sign(t, rs256, duplicate(iss, "iss", "https://other-cluster.example", iss.URL()), nil), wantErr: errMalformed},
		{name: "iss twice, one spelt with an escape", token: sign(t, rs256, duplicate(iss, `\u0069ss`, "https://other-cluster.example", nil), nil), wantErr: errMalformed},
		{name: "kubernetes.io twice", token: sign(t, rs256, duplicate(iss, "kubernetes.io",
			map[string]any{"namespace": "ns", "serviceaccount": map[string]any{"name": "sa", "uid": saUID}},
			map[string]any{"namespace": "kube-system", "serviceaccount": map[string]any{"name": "admin", "uid": "x"}}), nil), wantErr: errMalformed},
		// Size and shape.
		{name: "valid signature, review body just under 1 MiB", token: nearLimitToken(t, iss), wantErr: errMalformed},
		{name: "JWE, five segments", token: jwe, wantErr: errEncrypted},
		{name: "four segments", token: valid + ".AAAA", wantErr: errMalformed},
		{name: "empty payload", token: seg[0] + ".." + seg[2], wantErr: errMalformed},
		{name: "JSON serialization", token: jsonSerialization(seg), wantErr: "contains a JWT"},
		{name: "garbage", token: "garbage", wantErr: errNotJWT},
		{name: "three dots", token: "a.b.c", wantErr: errNotJWT},
		{name: "JWT-looking garbage", token: "eyJ.eyJ.eyJ", wantErr: errMalformed},
		{name: "dots only", token: "e...", wantErr: errMalformed},
		{name: "control and bidi characters", token: "e\x00\x01.\u202e.\xff", wantErr: errMalformed},
		{name: "Bearer prefix", token: "Bearer " + valid, wantErr: "Bearer"},
		// Size is checked before shape, so even an opaque token is "malformed".
		{name: "64 KiB of A", token: strings.Repeat("A", 64<<10), wantErr: errMalformed},
	}
}

// hsConfusion signs HS256 with the RSA public key's PEM as the HMAC secret:
// a verifier that picks the algorithm from the header would accept it.
func hsConfusion() signer {
	der, err := x509.MarshalPKIXPublicKey(&rsaKey().PublicKey)
	if err != nil {
		panic(err)
	}
	secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	return signer{jose.HS256, rsaKid, func() any { return secret }}
}

// flipBytes inverts the first and last byte of an encoded signature and
// re-encodes it canonically, so only the signature check can catch it.
func flipBytes(sig string) string {
	b, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		panic(err)
	}
	b[0] ^= 0xff
	b[len(b)-1] ^= 0xff
	return b64(b)
}

// duplicate is a valid payload with member set to first and then second,
// ahead of the other claims. With second nil, member is written once, for
// spellings (such as an escaped "iss") that repeat a claim still present.
func duplicate(iss *fakeIssuer, member string, first, second any) string {
	c := iss.claims()
	delete(c, member)
	rest := string(mustJSON(c))
	head := `"` + member + `":` + string(mustJSON(first)) + `,`
	if second != nil {
		head += `"` + member + `":` + string(mustJSON(second)) + `,`
	}
	return "{" + head + rest[1:]
}

// jsonSerialization is the flattened JSON serialization of a compact JWS.
func jsonSerialization(seg []string) string {
	return string(mustJSON(map[string]string{"protected": seg[0], "payload": seg[1], "signature": seg[2]}))
}

// nearLimitToken is a validly signed token whose review body is just under
// the 1 MiB limit, padded with a large claim.
func nearLimitToken(t *testing.T, iss *fakeIssuer) string {
	t.Helper()
	const target = maxBody - 32
	pad := target * 3 / 4
	for range 8 {
		token, _ := iss.token(t, rs256, map[string]any{"pad": strings.Repeat("A", pad)})
		n := len(reviewBody(token, nil))
		if n <= target && n > target-64 {
			return token
		}
		pad += (target - 16 - n) * 3 / 4
	}
	t.Fatalf("could not size a token to a %d-byte body", target)
	return ""
}
