package fakeapiserver

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const (
	// Path is the one path served: kube-apiserver's v1 TokenReview API,
	// the version tokenfed's upstream client speaks.
	Path = "/apis/authentication.k8s.io/v1/tokenreviews"
	// Credential is the bearer token the server accepts: tokenfed's own
	// credential for the cluster, as RESTConfig and Kubeconfig carry it.
	Credential = "tokenfed-credential"
)

// AnswerFunc writes the answer to one decoded review.
type AnswerFunc func(w http.ResponseWriter, r *http.Request, review *authenticationv1.TokenReview)

// Request is what the server saw of one review request.
type Request struct {
	Authorization, UserAgent string
	Review                   authenticationv1.TokenReview
}

// Server is the endpoint. Its answer can be changed while it serves.
type Server struct {
	*httptest.Server
	// Hits counts every request, on any path and with any credential.
	Hits atomic.Int64

	mu       sync.Mutex
	answer   AnswerFunc
	requests []Request
}

// Start serves on loopback with a certificate of its own until the test
// ends. A request it cannot take as kube-apiserver would (another method
// or path: 404; not Credential: 401; a body that is not a TokenReview:
// 400) is refused, not passed to answer; every one is counted, and a
// decoded one recorded, first.
func Start(t testing.TB, answer AnswerFunc) *Server {
	t.Helper()
	s := &Server{answer: answer}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.Hits.Add(1)
	if r.Method != http.MethodPost || r.URL.Path != Path {
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	var review authenticationv1.TokenReview
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{r.Header.Get("Authorization"), r.Header.Get("User-Agent"), review})
	answer := s.answer
	s.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+Credential {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	answer(w, r, &review)
}

// SetAnswer answers every later review with a.
func (s *Server) SetAnswer(a AnswerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answer = a
}

// Requests are the decoded reviews so far, in order of arrival.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Specs are the specs of Requests.
func (s *Server) Specs() []authenticationv1.TokenReviewSpec {
	var specs []authenticationv1.TokenReviewSpec
	for _, r := range s.Requests() {
		specs = append(specs, r.Review.Spec)
	}
	return specs
}

// RESTConfig reaches the server with Credential, trusting only its
// certificate.
func (s *Server) RESTConfig() *rest.Config {
	return &rest.Config{Host: s.URL, BearerToken: Credential, TLSClientConfig: rest.TLSClientConfig{CAData: s.caPEM()}}
}

// Kubeconfig writes a kubeconfig file holding RESTConfig's settings, as
// issuers[].upstream.kubeconfig names one, and returns its path.
func (s *Server) Kubeconfig(t testing.TB) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["issuer"] = &clientcmdapi.Cluster{Server: s.URL, CertificateAuthorityData: s.caPEM()}
	kc.AuthInfos["tokenfed"] = &clientcmdapi.AuthInfo{Token: Credential}
	kc.Contexts["issuer"] = &clientcmdapi.Context{Cluster: "issuer", AuthInfo: "tokenfed"}
	kc.CurrentContext = "issuer"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func (s *Server) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
}

// Respond writes a TokenReview answer as kube-apiserver does: 201 Created,
// apiVersion and kind set, status st. kube-apiserver also echoes the
// request's spec, token included; spec is written as given, so a test
// passes the review's spec for that, or the zero spec for an answer
// without one.
func Respond(w http.ResponseWriter, spec authenticationv1.TokenReviewSpec, st authenticationv1.TokenReviewStatus) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(authenticationv1.TokenReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "TokenReview"},
		Spec:     spec,
		Status:   st,
	})
}

// Answer answers every review with st, the spec echoed as kube-apiserver
// echoes it.
func Answer(st authenticationv1.TokenReviewStatus) AnswerFunc {
	return func(w http.ResponseWriter, _ *http.Request, review *authenticationv1.TokenReview) {
		Respond(w, review.Spec, st)
	}
}

// Text answers code with a plain-text body, as a proxy in front of the
// cluster would, with a Retry-After header when retryAfter is set.
func Text(code int, retryAfter string) AnswerFunc {
	return func(w http.ResponseWriter, _ *http.Request, _ *authenticationv1.TokenReview) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		http.Error(w, http.StatusText(code), code)
	}
}

// APIStatus answers code with a metav1.Status body, as kube-apiserver
// refuses a request itself; its 429s carry both the Retry-After header and
// details.retryAfterSeconds, and so does this one when retryAfter > 0
// (seconds).
func APIStatus(code int, reason metav1.StatusReason, retryAfter int) AnswerFunc {
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
