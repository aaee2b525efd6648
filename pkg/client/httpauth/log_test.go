package httpauth_test

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-logr/logr/funcr"
	"k8s.io/klog/v2"

	"github.com/tokenfed/tokenfed/pkg/client/httpauth"
	"github.com/tokenfed/tokenfed/pkg/client/internal/authtest"
)

// TestLogs: Options.Logger gets one line per request at V(2), and for the
// authenticator's error its types, never its text (which quotes the
// token).
func TestLogs(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	logger := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, args)
		// Also where the token scan reads.
		klog.Info(args)
	}, funcr.Options{Verbosity: 2})
	mw, err := httpauth.New(httpauth.Options{Authenticator: &authtest.Authenticator{}, Audiences: []string{authtest.Audience}, Logger: &logger})
	if err != nil {
		t.Fatal(err)
	}
	var handled atomic.Int64
	srv := startServer(t, mw.Wrap(reportHandler(&handled)), false)
	for i, tc := range []struct {
		header string
		want   []string // in the one line logged
	}{
		{"Bearer " + authtest.Good, []string{`"msg"="request authenticated"`, `"user"="` + authtest.UserName + `"`, `"audiences"=["` + authtest.Audience + `"]`}},
		{"Bearer " + authtest.Rejected, []string{`"msg"="request refused"`, `"reason"="token rejected"`}},
		{"Bearer " + authtest.ForOther, []string{`"msg"="request refused"`, `"reason"="token rejected"`}},
		{"Bearer " + authtest.Deaf, []string{`"reason"="token valid for other audiences"`, `"audiences"=["` + authtest.OtherAudience + `"]`}},
		{"Bearer " + authtest.Unaware, []string{`"msg"="token refused: the authenticator named no audiences`}},
		{"Bearer a b", []string{`"reason"="the bearer token is not a single b64token"`}},
		{"Bearer " + authtest.Outage, []string{`"msg"="token not checked: authenticator unavailable"`, `"error"="authenticator error (its text is never logged: it may quote the token)"`, `"errorTypes"=["*errors.errorString"]`}},
		{"Bearer " + authtest.NoUser, []string{`"msg"="token not checked: the authenticator accepted it, but its answer is not an identity"`, `"problem"="no user"`}},
	} {
		mu.Lock()
		lines = nil
		mu.Unlock()
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		req.Header.Set("Authorization", tc.header)
		do(t, srv.Client(), req)
		mu.Lock()
		got := lines
		mu.Unlock()
		if len(got) != 1 {
			t.Errorf("request %d: got log lines %q, want one", i, got)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(got[0], w) {
				t.Errorf("got log line %s, want it to contain %s", got[0], w)
			}
		}
	}
}
