package keyset

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	testingclock "k8s.io/utils/clock/testing"
)

// fetchOnce builds a key set from opts, loads it once and returns the load
// error.
func fetchOnce(t *testing.T, opts Options) (*KeySet, error) {
	t.Helper()
	opts.IssuerName = "test"
	opts.Clock = testingclock.NewFakeClock(epoch)
	ks, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return ks, ks.refresh(context.Background())
}

func TestFetchFailures(t *testing.T) {
	doc := jwksDoc(t, publicJWK(testECKey(t), "ec1", ""))
	good := newJWKSServer(t, doc)
	big := newJWKSServer(t, append(doc, bytes.Repeat([]byte(" "), 2048)...))
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(doc) }))
	t.Cleanup(plain.Close)
	redirectTo := func(target string) *jwksServer {
		s := newJWKSServer(t, nil)
		s.Config.Handler = http.RedirectHandler(target, http.StatusFound)
		return s
	}
	self := newJWKSServer(t, doc)
	self.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/jwks" {
			http.Redirect(w, r, "/jwks", http.StatusMovedPermanently)
			return
		}
		self.serve(w, r)
	})
	// refused must never be reached: redirects to it cross hosts.
	refused := newJWKSServer(t, doc)
	otherHost := strings.Replace(refused.URL, "127.0.0.1", "localhost", 1)

	tests := []struct {
		name    string
		url     string
		maxBody int64
		status  int
		body    string
		wantErr string
	}{
		{name: "ok", url: good.URL},
		{name: "size limit", url: big.URL, maxBody: int64(len(doc) + 100), wantErr: "exceeds"},
		{name: "same-host redirect is followed", url: self.URL + "/old"},
		{name: "redirect to another port", url: redirectTo(refused.URL).URL, wantErr: "another host"},
		{name: "redirect to another host name", url: redirectTo(otherHost).URL, wantErr: "another host"},
		{name: "redirect https to http", url: redirectTo(plain.URL).URL, wantErr: "https to http"},
		{name: "server error", url: good.URL, status: 500, wantErr: "status 500"},
		{name: "not json", url: good.URL, body: "<html>", wantErr: "decode jwks"},
		{name: "only symmetric keys", url: good.URL, body: `{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"h"}]}`, wantErr: `no usable keys: 1 key dropped: kid "h": symmetric key (kty oct) refused`},
		{name: "only encryption keys", url: good.URL, body: strings.Replace(string(doc), `"sig"`, `"enc"`, 1), wantErr: `no usable keys: 1 key dropped: kid "ec1": use "enc" is not sig`},
		{name: "no keys", url: good.URL, body: `{"keys":[]}`, wantErr: "no usable keys: the document holds no keys"},
		{name: "no keys member", url: good.URL, body: `{}`, wantErr: "decode jwks: no keys array"},
		{name: "keys spelled Keys", url: good.URL, body: strings.Replace(string(doc), `"keys"`, `"Keys"`, 1), wantErr: "decode jwks: no keys array"},
		{name: "keys not an array", url: good.URL, body: `{"keys":{"kty":"EC"}}`, wantErr: "decode jwks: JSON object where array was expected"},
		{name: "keys twice", url: good.URL, body: `{"keys":[],` + string(doc[1:]), wantErr: "decode jwks: duplicate member"},
		{name: "array", url: good.URL, body: `[` + string(doc) + `]`, wantErr: "decode jwks: JSON array where object was expected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.status != 0 || tc.body != "" {
				status := tc.status
				if status == 0 {
					status = http.StatusOK
				}
				good.set(status, []byte(tc.body), "")
				t.Cleanup(func() { good.set(http.StatusOK, doc, "") })
			}
			ks, err := fetchOnce(t, Options{JWKSURL: tc.url, Client: good.Client(), MaxResponseBytes: tc.maxBody, Algorithms: []string{"ES256"}})
			if !errContains(err, tc.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
			}
			if got := ks.Status(); got.Loaded != (tc.wantErr == "") {
				t.Fatalf("got %+v, want Loaded %v", got, tc.wantErr == "")
			}
		})
	}
	if got := refused.hits.Load(); got != 0 {
		t.Fatalf("got %d requests to a cross-host redirect target, want 0", got)
	}
}

func errContains(err error, want string) bool {
	if want == "" {
		return err == nil
	}
	return err != nil && strings.Contains(err.Error(), want)
}
