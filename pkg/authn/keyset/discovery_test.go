package keyset

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// discoveryIssuer is the configured issuer URL. It names neither test server:
// like kube-apiserver's discoveryURL, where the document is fetched from does
// not change what it must call itself.
const discoveryIssuer = "https://issuer.example/tenant"

// discoveryTests serve doc as the discovery document, with <JWKS> standing
// for a good https JWKS URL, <PLAIN> for a plain http one and <ISSUER> for
// discoveryIssuer. wantErr is how the load error ends; "" means the keys
// load.
var discoveryTests = []struct {
	name    string
	doc     string
	algs    []string
	maxBody int64
	wantErr string
}{
	{name: "ok", doc: `{"issuer":"<ISSUER>","jwks_uri":"<JWKS>"}`},
	{name: "kube-apiserver's document", doc: `{"issuer":"<ISSUER>","jwks_uri":"<JWKS>","response_types_supported":["id_token"],` +
		`"subject_types_supported":["public"],"id_token_signing_alg_values_supported":["ES256"]}`},

	// issuer (OpenID Connect Discovery 1.0 §4.3).
	{name: "issuer of another tenant", doc: `{"issuer":"https://issuer.example/other","jwks_uri":"<JWKS>"}`,
		wantErr: `issuer "https://issuer.example/other" does not match the configured issuer "https://issuer.example/tenant"`},
	{name: "issuer with a trailing slash", doc: `{"issuer":"<ISSUER>/","jwks_uri":"<JWKS>"}`,
		wantErr: `issuer "https://issuer.example/tenant/" does not match the configured issuer "https://issuer.example/tenant"`},
	{name: "issuer in other case", doc: `{"issuer":"https://ISSUER.example/tenant","jwks_uri":"<JWKS>"}`,
		wantErr: `issuer "https://ISSUER.example/tenant" does not match the configured issuer "https://issuer.example/tenant"`},
	{name: "issuer missing", doc: `{"jwks_uri":"<JWKS>"}`, wantErr: `: issuer is missing`},
	{name: "issuer spelled Issuer", doc: `{"Issuer":"<ISSUER>","jwks_uri":"<JWKS>"}`, wantErr: `: issuer is missing`},
	{name: "issuer not a string", doc: `{"issuer":12345678901234567890,"jwks_uri":"<JWKS>"}`,
		wantErr: `: JSON number where string was expected`},
	{name: "issuer twice, the second forged", doc: `{"issuer":"<ISSUER>","jwks_uri":"<JWKS>","issuer":"https://evil.example"}`,
		wantErr: `: duplicate member`},
	{name: "long issuer is cut", doc: `{"issuer":"https://evil.example/` + "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" + `","jwks_uri":"<JWKS>"}`,
		wantErr: `issuer "https://evil.example/xxxxxxxxxxxxxxxxxxx"... does not match the configured issuer "https://issuer.example/tenant"`},

	// The document itself.
	{name: "array", doc: `["<ISSUER>"]`, wantErr: `: JSON array where object was expected`},
	{name: "null", doc: `null`, wantErr: `: issuer is missing`},
	{name: "html", doc: `<html>`, wantErr: `: invalid JSON at offset 1`},
	{name: "trailing garbage", doc: `{"issuer":"x"} {}`, wantErr: `: invalid JSON at offset 16`},
	{name: "over the size limit", doc: `{"issuer":"<ISSUER>","jwks_uri":"<JWKS>","pad":"` + "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" + `"}`,
		maxBody: 128, wantErr: `: body exceeds 128 bytes`},

	// jwks_uri: the rules of a configured fetch URL.
	{name: "jwks_uri missing", doc: `{"issuer":"<ISSUER>"}`, wantErr: `: jwks_uri is missing`},
	{name: "jwks_uri empty", doc: `{"issuer":"<ISSUER>","jwks_uri":""}`, wantErr: `: jwks_uri is missing`},
	{name: "jwks_uri relative", doc: `{"issuer":"<ISSUER>","jwks_uri":"/keys"}`, wantErr: `: jwks_uri: url "/keys" must be absolute http(s)`},
	{name: "jwks_uri file", doc: `{"issuer":"<ISSUER>","jwks_uri":"file:///etc/keys"}`, wantErr: `: jwks_uri: url "file:///etc/keys" must be absolute http(s)`},
	{name: "jwks_uri with user info", doc: `{"issuer":"<ISSUER>","jwks_uri":"https://u:secret@issuer.example/keys"}`,
		wantErr: `: jwks_uri: url "https://u:xxxxx@issuer.example/keys" must not carry user info`},
	{name: "jwks_uri plain http", doc: `{"issuer":"<ISSUER>","jwks_uri":"<PLAIN>"}`, wantErr: `: jwks_uri must be https`},
	{name: "jwks_uri not a string", doc: `{"issuer":"<ISSUER>","jwks_uri":["<JWKS>"]}`, wantErr: `: JSON array where string was expected`},
	{name: "jwks_uri too long", doc: `{"issuer":"<ISSUER>","jwks_uri":"https://issuer.example/` + strings.Repeat("k", 1024) + `"}`,
		wantErr: `: jwks_uri is longer than 1024 bytes`},

	// id_token_signing_alg_values_supported: the allow-list decides.
	{name: "algs overlap the allow-list", doc: `{"issuer":"<ISSUER>","jwks_uri":"<JWKS>","id_token_signing_alg_values_supported":["RS256","ES256"]}`},
	{name: "algs empty", doc: `{"issuer":"<ISSUER>","jwks_uri":"<JWKS>","id_token_signing_alg_values_supported":[]}`},
	{name: "algs outside the allow-list", doc: `{"issuer":"<ISSUER>","jwks_uri":"<JWKS>","id_token_signing_alg_values_supported":["RS256","HS256","none"]}`,
		wantErr: `: id_token_signing_alg_values_supported ["RS256", "HS256", "none"] lists none of the allowed algorithms [ES256]`},
	{name: "algs not a list", doc: `{"issuer":"<ISSUER>","jwks_uri":"<JWKS>","id_token_signing_alg_values_supported":"ES256"}`,
		wantErr: `: JSON string where array was expected`},
}

func TestDiscoveryDocument(t *testing.T) {
	ek := testECKey(t)
	jwks := newJWKSServer(t, jwksDoc(t, publicJWK(ek, "ec1", "")))
	plain := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(plain.Close)
	fill := strings.NewReplacer("<JWKS>", jwks.URL+"/keys", "<PLAIN>", plain.URL, "<ISSUER>", discoveryIssuer)
	for _, tc := range discoveryTests {
		t.Run(tc.name, func(t *testing.T) {
			disc := newJWKSServer(t, []byte(fill.Replace(tc.doc)))
			ks, err := fetchOnce(t, Options{
				Issuer: discoveryIssuer, DiscoveryURL: disc.URL + "/.well-known/openid-configuration",
				Client: disc.Client(), Algorithms: []string{"ES256"}, MaxResponseBytes: tc.maxBody,
			})
			if tc.wantErr != "" {
				if err == nil || !strings.HasSuffix(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one ending in %q", err, tc.wantErr)
				}
				if st := ks.Status(); st.Loaded || st.LastError != err.Error() {
					t.Fatalf("got %+v, want not loaded and LastError %q", st, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if _, err := ks.VerifySignature(context.Background(), sign(t, ek, jose.ES256, "ec1", payload, nil)); err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
		})
	}
}

// bearerTransport adds a credential to every request, as client-go's
// transport does with fetch.bearerTokenFile.
type bearerTransport struct{ next http.RoundTripper }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer issuer-only")
	return b.next.RoundTrip(r)
}

// TestDiscoveryCredentialsStayOnItsOrigin: with credentials, a jwks_uri on
// another origin (here the same host on another port) fails the fetch, and
// nothing is sent there; without, the document says where keys are.
func TestDiscoveryCredentialsStayOnItsOrigin(t *testing.T) {
	ek := testECKey(t)
	jwks := jwksDoc(t, publicJWK(ek, "ec1", ""))
	for _, tc := range []struct {
		name           string
		credentials    bool
		elsewhere      bool
		wantErr        string
		wantOtherFetch int64
	}{
		{name: "credentials, same origin", credentials: true},
		{name: "credentials, another origin", credentials: true, elsewhere: true,
			wantErr: `: jwks_uri origin "<OTHER>" is not the discovery document's <DISC>, and fetch credentials are sent to the issuer only: configure jwksURL instead`},
		{name: "no credentials, another origin", elsewhere: true, wantOtherFetch: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			other := newJWKSServer(t, jwks)
			mux := http.NewServeMux()
			disc := httptest.NewTLSServer(mux)
			t.Cleanup(disc.Close)
			uri := disc.URL + "/keys"
			if tc.elsewhere {
				uri = other.URL + "/keys"
			}
			mux.HandleFunc("/keys", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(jwks) })
			mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte(`{"issuer":"` + discoveryIssuer + `","jwks_uri":"` + uri + `"}`))
			})
			client := disc.Client()
			client.Transport = bearerTransport{client.Transport}

			ks, err := fetchOnce(t, Options{
				Issuer: discoveryIssuer, DiscoveryURL: disc.URL + "/.well-known/openid-configuration",
				Client: client, Credentials: tc.credentials, Algorithms: []string{"ES256"},
			})

			want := strings.NewReplacer("<OTHER>", other.URL, "<DISC>", disc.URL).Replace(tc.wantErr)
			if (err == nil) != (want == "") || err != nil && !strings.HasSuffix(err.Error(), want) {
				t.Fatalf("got error %v, want one ending in %q", err, want)
			}
			if err != nil && ks.Status().LastError != err.Error() {
				t.Errorf("got LastError %q, want %q for readiness", ks.Status().LastError, err)
			}
			if got := other.hits.Load(); got != tc.wantOtherFetch {
				t.Errorf("got %d fetches from the other origin, want %d", got, tc.wantOtherFetch)
			}
		})
	}
}
