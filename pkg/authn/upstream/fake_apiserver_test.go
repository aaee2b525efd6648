package upstream

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

const (
	tokenReviewPath = "/apis/authentication.k8s.io/v1/tokenreviews"
	// testToken is what every test reviews; no error may ever quote it.
	testToken = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzZWNyZXQtdG9rZW4tZm9yLXRlc3RzIn0.c2lnbmF0dXJlLXNlY3JldA"
	// upstreamCredential is tokenfed's own credential for the cluster.
	upstreamCredential = "tokenfed-credential"
)

// answerFunc writes the fake apiserver's answer to one decoded review.
type answerFunc func(w http.ResponseWriter, r *http.Request, review *authenticationv1.TokenReview)

// received is what the fake apiserver saw of one request.
type received struct {
	authorization string
	userAgent     string
	review        authenticationv1.TokenReview
}

// fakeAPIServer is kube-apiserver's TokenReview endpoint on the wire: it
// decodes the request as the real one would and answers per test.
type fakeAPIServer struct {
	*httptest.Server
	hits atomic.Int64

	mu       sync.Mutex
	answer   answerFunc
	received []received
}

func newFakeAPIServer(t testing.TB, answer answerFunc) *fakeAPIServer {
	t.Helper()
	f := &fakeAPIServer{answer: answer}
	f.Server = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAPIServer) serve(w http.ResponseWriter, r *http.Request) {
	f.hits.Add(1)
	if r.Method != http.MethodPost || r.URL.Path != tokenReviewPath {
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	var review authenticationv1.TokenReview
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.received = append(f.received, received{r.Header.Get("Authorization"), r.Header.Get("User-Agent"), review})
	answer := f.answer
	f.mu.Unlock()
	answer(w, r, &review)
}

func (f *fakeAPIServer) setAnswer(a answerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answer = a
}

func (f *fakeAPIServer) requests() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.received...)
}

// restConfig reaches srv over TLS, trusting only its certificate.
func restConfig(srv *httptest.Server) *rest.Config {
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return &rest.Config{Host: srv.URL, BearerToken: upstreamCredential, TLSClientConfig: rest.TLSClientConfig{CAData: ca}}
}

// newTestClient builds a Client for srv; zero Timeout gets 5s.
func newTestClient(t testing.TB, srv *httptest.Server, opts Options) (*Client, *Metrics) {
	t.Helper()
	opts.IssuerName = "hub"
	opts.Config = restConfig(srv)
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	opts.Metrics = NewMetrics(prometheus.NewRegistry())
	c, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, opts.Metrics
}

// answerStatus answers like kube-apiserver: 201 with the review's status,
// and the review's spec, token included, echoed back.
func answerStatus(st authenticationv1.TokenReviewStatus) answerFunc {
	return func(w http.ResponseWriter, _ *http.Request, review *authenticationv1.TokenReview) {
		out := authenticationv1.TokenReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "TokenReview"},
			Spec:     review.Spec,
			Status:   st,
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(out)
	}
}

var answerAuthenticated = answerStatus(authenticationv1.TokenReviewStatus{
	Authenticated: true,
	User:          authenticationv1.UserInfo{Username: "system:serviceaccount:ns:sa", UID: "sa-uid"},
})

// answerText answers code with a plain-text body, as a proxy would.
func answerText(code int, retryAfter string) answerFunc {
	return func(w http.ResponseWriter, _ *http.Request, _ *authenticationv1.TokenReview) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		http.Error(w, http.StatusText(code), code)
	}
}

// answerAPIStatus answers code with a metav1.Status body, as kube-apiserver
// itself does (its 429s carry both the header and details.retryAfterSeconds).
func answerAPIStatus(code int, reason metav1.StatusReason, retryAfter int) answerFunc {
	return func(w http.ResponseWriter, _ *http.Request, _ *authenticationv1.TokenReview) {
		st := metav1.Status{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
			Status:   metav1.StatusFailure, Code: int32(code), Reason: reason, Message: "answered by the fake",
		}
		if retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
			st.Details = &metav1.StatusDetails{RetryAfterSeconds: int32(retryAfter)}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(st)
	}
}

// answerQuoting answers code with a body of contentType that quotes the
// review's token, as a hostile cluster or a confused proxy might, and a
// warning that quotes it too.
func answerQuoting(code int, contentType, format string) answerFunc {
	return func(w http.ResponseWriter, _ *http.Request, review *authenticationv1.TokenReview) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Warning", `299 - "`+review.Spec.Token+`"`)
		w.WriteHeader(code)
		_, _ = fmt.Fprintf(w, format, review.Spec.Token)
	}
}

// checkNoToken fails if err quotes the reviewed token or any part of it.
func checkNoToken(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, part := range append(strings.Split(testToken, "."), testToken) {
		if strings.Contains(err.Error(), part) {
			t.Errorf("got error %q, want it not to contain the token", err)
		}
	}
}
