package httpauth_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/tokenfed/tokenfed/pkg/client/httpauth"
	"github.com/tokenfed/tokenfed/pkg/client/internal/authtest"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

func TestMain(m *testing.M) {
	os.Exit(authtest.Main(m, authtest.MainOptions{Recorded: tokenfedproc.Recorded, Done: tokenfedproc.RemoveRecorded}))
}

// realm needs escaping in a quoted-string, so every challenge below also
// checks the quoting.
const realm = `orders "v2" \ api`

// seen is what the protected handler saw, as it reports it.
type seen struct {
	User      string              `json:"user"`
	Groups    []string            `json:"groups"`
	Extra     map[string][]string `json:"extra"`
	Audiences []string            `json:"audiences"`
	// Authorization counts the Authorization fields left for the handler:
	// a count, so a failure message cannot print a token.
	Authorization int `json:"authorization"`
}

// reportHandler answers with what it sees of the request, and counts calls.
func reportHandler(calls *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var s seen
		if u, ok := request.UserFrom(r.Context()); ok {
			s.User, s.Groups, s.Extra = u.GetName(), u.GetGroups(), u.GetExtra()
		}
		if auds, ok := httpauth.TokenAudiencesFrom(r.Context()); ok {
			s.Audiences = auds
		}
		s.Authorization = len(r.Header.Values("Authorization"))
		_ = json.NewEncoder(w).Encode(s)
	})
}

var accepted = seen{
	User:      authtest.UserName,
	Groups:    []string{"edge:system:serviceaccounts", "edge:system:serviceaccounts:ns"},
	Extra:     map[string][]string{"tokenfed.io/issuer": {"edge"}},
	Audiences: []string{authtest.Audience},
}

func challenge(errCode, description string) map[string]string {
	c := map[string]string{"realm": realm}
	if errCode != "" {
		c["error"], c["error_description"] = errCode, description
	}
	return c
}

const invalidToken = "the token is invalid, expired, revoked or not for this service"

var middlewareCases = []struct {
	name   string
	header []string // Authorization field values; none when nil
	query  string
	// wantChallenge is the WWW-Authenticate parameters; nil: no field.
	wantCode       int
	wantChallenge  map[string]string
	wantRetryAfter string
	// wantChecked: the authenticator was asked (malformed requests cost
	// nothing).
	wantChecked bool
}{
	{name: "accepted", header: []string{"Bearer " + authtest.Good}, wantCode: 200, wantChecked: true},
	{name: "scheme in lower case, two spaces", header: []string{"bearer  " + authtest.Good}, wantCode: 200, wantChecked: true},
	{name: "other query parameters", header: []string{"Bearer " + authtest.Good}, query: "token=1&access=2", wantCode: 200, wantChecked: true},

	{name: "no credentials", wantCode: 401, wantChallenge: challenge("", "")},
	{name: "basic credentials", header: []string{"Basic dXNlcjpwYXNz"}, wantCode: 401, wantChallenge: challenge("", "")},
	{name: "token in the query only", query: "access_token=" + authtest.Good, wantCode: 401, wantChallenge: challenge("", "")},

	{name: "two fields", header: []string{"Bearer " + authtest.Good, "Bearer " + authtest.Rejected}, wantCode: 400, wantChallenge: challenge("invalid_request", "more than one Authorization field")},
	{name: "bearer and basic fields", header: []string{"Basic dXNlcjpwYXNz", "Bearer " + authtest.Good}, wantCode: 400, wantChallenge: challenge("invalid_request", "more than one Authorization field")},
	{name: "empty field", header: []string{""}, wantCode: 400, wantChallenge: challenge("invalid_request", "empty Authorization field")},
	{name: "tab after scheme", header: []string{"Bearer\t" + authtest.Good}, wantCode: 400, wantChallenge: challenge("invalid_request", "malformed credentials")},
	{name: "bearer without token", header: []string{"Bearer"}, wantCode: 400, wantChallenge: challenge("invalid_request", "Bearer credentials without a token")},
	{name: "two tokens", header: []string{"Bearer " + authtest.Good + " " + authtest.Rejected}, wantCode: 400, wantChallenge: challenge("invalid_request", "the bearer token is not a single b64token")},
	{name: "comma list", header: []string{"Bearer " + authtest.Good + ", Bearer " + authtest.Rejected}, wantCode: 400, wantChallenge: challenge("invalid_request", "the bearer token is not a single b64token")},
	{name: "quote in token", header: []string{`Bearer "` + authtest.Good + `"`}, wantCode: 400, wantChallenge: challenge("invalid_request", "the bearer token is not a single b64token")},
	{name: "header and query", header: []string{"Bearer " + authtest.Good}, query: "a=b&access_token=" + authtest.Rejected, wantCode: 400, wantChallenge: challenge("invalid_request", "a token in both the Authorization field and the access_token query parameter")},

	{name: "header and percent-encoded query name", header: []string{"Bearer " + authtest.Good}, query: "access%5Ftoken=" + authtest.Rejected, wantCode: 400, wantChallenge: challenge("invalid_request", "a token in both the Authorization field and the access_token query parameter")},

	{name: "rejected", header: []string{"Bearer " + authtest.Rejected}, wantCode: 401, wantChallenge: challenge("invalid_token", invalidToken), wantChecked: true},
	{name: "unknown token", header: []string{"Bearer unknown-token-nobody-issued"}, wantCode: 401, wantChallenge: challenge("invalid_token", invalidToken), wantChecked: true},
	{name: "minted for another audience", header: []string{"Bearer " + authtest.ForOther}, wantCode: 401, wantChallenge: challenge("invalid_token", invalidToken), wantChecked: true},
	{name: "authenticator ignores the audiences", header: []string{"Bearer " + authtest.Deaf}, wantCode: 401, wantChallenge: challenge("invalid_token", invalidToken), wantChecked: true},
	{name: "authenticator names no audiences", header: []string{"Bearer " + authtest.Unaware}, wantCode: 401, wantChallenge: challenge("invalid_token", invalidToken), wantChecked: true},

	{name: "authenticator unavailable", header: []string{"Bearer " + authtest.Outage}, wantCode: 503, wantRetryAfter: "2", wantChecked: true},
	{name: "authenticator names no user", header: []string{"Bearer " + authtest.NoUser}, wantCode: 500, wantChecked: true},
}

// TestMiddleware sends every case over HTTP/1.1 and HTTP/2, through real
// TLS servers and clients.
func TestMiddleware(t *testing.T) {
	for _, proto := range []int{1, 2} {
		auth := &authtest.Authenticator{}
		var handled atomic.Int64
		mw, err := httpauth.New(httpauth.Options{Authenticator: auth, Audiences: []string{authtest.Audience, "https://orders.internal"}, Realm: realm, RetryAfter: 1500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		srv := startServer(t, mw.Wrap(reportHandler(&handled)), proto == 2)
		for _, tc := range middlewareCases {
			t.Run(tc.name+"/HTTP"+string(rune('0'+proto)), func(t *testing.T) {
				checked, served := auth.Calls(), handled.Load()
				req, err := http.NewRequest(http.MethodGet, srv.URL+"/orders?"+tc.query, nil)
				if err != nil {
					t.Fatal(err)
				}
				if tc.header != nil {
					req.Header["Authorization"] = tc.header
				}
				resp, body := do(t, srv.Client(), req)
				if resp.ProtoMajor != proto {
					t.Fatalf("got HTTP/%d, want HTTP/%d", resp.ProtoMajor, proto)
				}
				if resp.StatusCode != tc.wantCode {
					t.Fatalf("got HTTP %d (%s), want %d", resp.StatusCode, body, tc.wantCode)
				}
				wantChallenge(t, resp.Header, tc.wantChallenge)
				if got := resp.Header.Get("Retry-After"); got != tc.wantRetryAfter {
					t.Errorf("got Retry-After %q, want %q", got, tc.wantRetryAfter)
				}
				if got := auth.Calls() - checked; got != map[bool]int64{true: 1}[tc.wantChecked] {
					t.Errorf("got %d authenticator calls, want checked=%v", got, tc.wantChecked)
				}
				wantHandled := map[bool]int64{true: 1}[tc.wantCode == 200]
				if got := handled.Load() - served; got != wantHandled {
					t.Fatalf("got %d handler calls, want %d", got, wantHandled)
				}
				noTokenIn(t, resp.Header, body)
				if tc.wantCode == 200 {
					var got seen
					if err := json.Unmarshal([]byte(body), &got); err != nil {
						t.Fatal(err)
					}
					if d := cmp.Diff(accepted, got); d != "" {
						t.Errorf("the handler saw (-want +got):\n%s", d)
					}
				}
			})
		}
	}
}

// TestDefaults: without a realm the challenge is a bare "Bearer", and
// Retry-After is DefaultRetryAfter.
func TestDefaults(t *testing.T) {
	mw, err := httpauth.New(httpauth.Options{Authenticator: &authtest.Authenticator{}, Audiences: []string{authtest.Audience}})
	if err != nil {
		t.Fatal(err)
	}
	var handled atomic.Int64
	srv := startServer(t, mw.Wrap(reportHandler(&handled)), false)
	for _, tc := range []struct {
		token          string
		wantCode       int
		wantChallenge  string
		wantRetryAfter string
	}{
		{token: "", wantCode: 401, wantChallenge: "Bearer"},
		{token: authtest.Rejected, wantCode: 401, wantChallenge: `Bearer error="invalid_token", error_description="` + invalidToken + `"`},
		{token: authtest.Outage, wantCode: 503, wantRetryAfter: "5"},
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, _ := do(t, srv.Client(), req)
		if resp.StatusCode != tc.wantCode || resp.Header.Get("WWW-Authenticate") != tc.wantChallenge || resp.Header.Get("Retry-After") != tc.wantRetryAfter {
			t.Errorf("got %d, WWW-Authenticate %q, Retry-After %q; want %d, %q, %q", resp.StatusCode,
				resp.Header.Get("WWW-Authenticate"), resp.Header.Get("Retry-After"), tc.wantCode, tc.wantChallenge, tc.wantRetryAfter)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	auth := &authtest.Authenticator{}
	for _, tc := range []struct {
		name string
		opts httpauth.Options
		want string
	}{
		{"no authenticator", httpauth.Options{Audiences: []string{authtest.Audience}}, "authenticator is required"},
		{"no audiences", httpauth.Options{Authenticator: auth}, "audiences are required"},
		{"empty audience", httpauth.Options{Authenticator: auth, Audiences: []string{authtest.Audience, ""}}, "must not be empty"},
		{"control character in realm", httpauth.Options{Authenticator: auth, Audiences: []string{authtest.Audience}, Realm: "a\r\nX-Injected: 1"}, "control characters"},
		{"client limit without a rate", httpauth.Options{Authenticator: auth, Audiences: []string{authtest.Audience}, ClientLimit: &httpauth.ClientLimit{Burst: 1}}, "Rate must be"},
		{"client limit without a burst", httpauth.Options{Authenticator: auth, Audiences: []string{authtest.Audience}, ClientLimit: &httpauth.ClientLimit{Rate: 1}}, "Burst must be"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mw, err := httpauth.New(tc.opts)
			if mw != nil || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, %v; want no middleware and an error containing %q", mw, err, tc.want)
			}
		})
	}
}

func startServer(t *testing.T, h http.Handler, http2 bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = http2
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		err = ue.Err // without the URL, whose query may hold a token
	}
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// wantChallenge parses the one WWW-Authenticate field and compares its
// parameters; want nil means there must be none.
func wantChallenge(t *testing.T, h http.Header, want map[string]string) {
	t.Helper()
	fields := h.Values("WWW-Authenticate")
	if want == nil {
		if len(fields) != 0 {
			t.Fatalf("got WWW-Authenticate %q, want none", fields)
		}
		return
	}
	if len(fields) != 1 {
		t.Fatalf("got WWW-Authenticate %q, want one field", fields)
	}
	scheme, params, err := parseChallenge(fields[0])
	if err != nil {
		t.Fatalf("WWW-Authenticate: %v", err)
	}
	if scheme != "Bearer" {
		t.Errorf("got scheme %q, want Bearer", scheme)
	}
	if d := cmp.Diff(want, params); d != "" {
		t.Errorf("WWW-Authenticate %s (-want +got):\n%s", fields[0], d)
	}
}

// noTokenIn fails if any known token, or any of its segments, is in the
// answer's headers or body.
func noTokenIn(t *testing.T, h http.Header, body string) {
	t.Helper()
	var all strings.Builder
	for k, vs := range h {
		all.WriteString(k + ": " + strings.Join(vs, ", ") + "\n")
	}
	all.WriteString(body)
	for i, tok := range authtest.Tokens {
		for _, seg := range strings.Split(tok, ".") {
			if len(seg) >= 8 && strings.Contains(all.String(), seg) {
				t.Errorf("the answer contains part of test token #%d", i+1)
			}
		}
	}
}
