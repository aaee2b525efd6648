package tokenreview

// Fuzz targets for the request decoder, driven through the real Handler:
// `make fuzz` runs them for a set time each, and `go test` runs their seeds
// and every crasher kept in testdata/fuzz/ as regular tests.
//
// Invariants, checked on every input:
//   - the handler never panics;
//   - a review is answered 200 or 400, never 5xx (the authenticator here
//     never fails): 400 with a metav1.Status whose message is one of the
//     documented ones and quotes no caller text, and without asking the
//     authenticator;
//   - an accepted review asks the authenticator once, and its answer is a
//     TokenReview in the request's apiVersion (the URL's, when it names one)
//     that carries no spec.token and an error that is never the token;
//   - an accepted review decodes as an independent decoder reads it, and
//     decode -> encode -> decode round-trips its token, audiences and
//     apiVersion.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	authenticationv1 "k8s.io/api/authentication/v1"
	authenticationv1beta1 "k8s.io/api/authentication/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/tokenfed/tokenfed/pkg/redact"
)

// fuzzEndpoints are the three paths a review may be posted to; a fuzz
// input picks one by its endpoint byte.
var fuzzEndpoints = []struct{ path, version string }{
	{"/apis/authentication.k8s.io/v1/tokenreviews", V1},
	{"/apis/authentication.k8s.io/v1beta1/tokenreviews", V1beta1},
	{"/authenticate", ""},
}

// maxSeedBytes leaves the table's 32 audiences of 1 KiB out of the corpus:
// the fuzzer mutates and minimizes a 33 KiB input a hundred times slower,
// and decode_test.go runs that case.
const maxSeedBytes = 8 << 10

// fuzzMaxBody is tokenfed's default request body limit (1 MiB).
const fuzzMaxBody = 1 << 20

func FuzzReviewJSON(f *testing.F) {
	for _, s := range reviewSeeds() {
		if body := s.json(); len(body) <= maxSeedBytes {
			f.Add(body, s.endpoint)
		}
	}
	for _, body := range malformedJSONSeeds {
		for ep := range fuzzEndpoints {
			f.Add([]byte(body), uint8(ep))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, endpoint uint8) {
		checkReview(t, body, runtime.ContentTypeJSON, endpoint)
	})
}

func FuzzReviewProtobuf(f *testing.F) {
	for _, s := range reviewSeeds() {
		if body := s.protobuf(f); len(body) <= maxSeedBytes {
			f.Add(body, s.endpoint)
		}
	}
	// What is not protobuf at all, and protobuf cut short.
	valid := reviewSeeds()[0].protobuf(f)
	for _, body := range [][]byte{nil, []byte("k8s\x00"), valid[:len(valid)/2], reviewSeeds()[0].json()} {
		f.Add(body, uint8(2))
	}
	f.Fuzz(func(t *testing.T, body []byte, endpoint uint8) {
		checkReview(t, body, runtime.ContentTypeProtobuf, endpoint)
	})
}

// reviewSeed is one review a caller may send.
type reviewSeed struct {
	apiVersion string
	token      string
	audiences  []string
	endpoint   uint8
}

// reviewSeeds are the audience bounds of decode_test.go and the tokens of
// the attack tables (test/security, handler_test.go) in both versions, each
// posted to /authenticate and to its version's own path.
func reviewSeeds() []reviewSeed {
	tokens := []string{
		testToken, testToken + "\n", " \t", "", "Bearer " + testToken, "garbage", "a.b.c", "eyJ.eyJ.eyJ", "e...",
		"e\x00\x01.\u202e.\xff", "sha256~Xb5sYw9kF0cQ-aZ_1n2pQ3rS4tU5vW6xY7z8AbCdEfG",
	}
	var seeds []reviewSeed
	for vi, v := range []string{V1, V1beta1} {
		for _, tc := range audienceCases {
			seeds = append(seeds, reviewSeed{apiVersion: v, token: testToken, audiences: tc.auds, endpoint: uint8(vi)})
		}
		for _, tok := range tokens {
			seeds = append(seeds, reviewSeed{apiVersion: v, token: tok, audiences: []string{"https://kubernetes.default.svc"}, endpoint: 2})
		}
	}
	return seeds
}

func (s reviewSeed) json() []byte {
	return encodeJSONReview(review{apiVersion: s.apiVersion, token: s.token, audiences: s.audiences})
}

func (s reviewSeed) protobuf(tb testing.TB) []byte {
	body, err := encodeProtobufReview(review{apiVersion: s.apiVersion, token: s.token, audiences: s.audiences})
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// malformedJSONSeeds are bodies the handler must refuse, or read exactly as
// apimachinery would: case, duplicates, escapes and the wrong shapes.
var malformedJSONSeeds = []string{
	``, `null`, `[]`, `{}`, `"TokenReview"`, `{`,
	`{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview"}`,
	`{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":""}}`,
	`{"apiVersion":"authentication.k8s.io/v2","kind":"TokenReview","spec":{"token":"t0ken-value"}}`,
	`{"apiVersion":"authentication.k8s.io/v1","kind":"Status","spec":{"token":"t0ken-value"}}`,
	`{"apiversion":"authentication.k8s.io/v1","Kind":"TokenReview","spec":{"Token":"t0ken-value"}}`,
	`{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"first-token","token":"second-token"}}`,
	`{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"\u0074oken\ud800","audiences":["a","a",null]}}`,
	`{"apiVersion":"authentication.k8s.io/v1beta1","kind":"TokenReview","spec":{"token":"t0ken-value","audiences":"a"}}`,
	`{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","metadata":{"name":"x"},"spec":{"token":"t0ken-value"},"status":{"authenticated":true}}`,
	`{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"t0ken-value"}} {}`,
}

// fuzzMetrics is a real Metrics, so that every answer also goes through
// the label code; its registry is gathered to check the labels stay
// bounded.
var fuzzRegistry = prometheus.NewPedanticRegistry()
var fuzzMetrics = NewMetrics(fuzzRegistry)

// fuzzAccepts decides what the fuzz authenticator answers, from the token
// alone so that a round trip gets the same answer: tokens of even length
// are authenticated, the others refused with a reason that quotes them.
func fuzzAccepts(token string) bool { return len(token)%2 == 0 }

// asked is what the authenticator was called with.
type asked struct {
	calls     int
	token     string
	audiences []string
}

type answer struct {
	code        int
	contentType string
	body        []byte
	asked       asked
}

// serve posts body to the real Handler for the endpoint.
func serve(t *testing.T, body []byte, mediaType string, endpoint uint8) answer {
	t.Helper()
	ep := fuzzEndpoints[int(endpoint)%len(fuzzEndpoints)]
	var a asked
	auth := authenticator.TokenFunc(func(ctx context.Context, token string) (*authenticator.Response, bool, error) {
		a.calls++
		a.token = token
		auds, _ := authenticator.AudiencesFrom(ctx)
		a.audiences = auds
		if !fuzzAccepts(token) {
			return nil, false, fmt.Errorf("token %q is not valid", token)
		}
		return &authenticator.Response{User: &user.DefaultInfo{Name: "fuzz-user", Groups: []string{"fuzz-group"}}, Audiences: auds}, true, nil
	})
	req := httptest.NewRequest(http.MethodPost, ep.path, bytes.NewReader(body))
	req.Header.Set("Content-Type", mediaType)
	rec := httptest.NewRecorder()
	NewHandler(auth, nil, fuzzMaxBody, ep.version, fuzzMetrics).ServeHTTP(rec, req)
	return answer{code: rec.Code, contentType: rec.Header().Get("Content-Type"), body: rec.Body.Bytes(), asked: a}
}

func checkReview(t *testing.T, body []byte, mediaType string, endpoint uint8) {
	ans := serve(t, body, mediaType, endpoint)
	switch ans.code {
	case http.StatusOK:
		rv := checkAccepted(t, ans, endpoint)
		checkIndependentDecode(t, body, mediaType, rv)
		checkRoundTrip(t, rv, mediaType, endpoint)
	case http.StatusBadRequest:
		checkRejected(t, ans)
	default:
		t.Fatalf("got HTTP %d %s, want 200 or 400", ans.code, ans.body)
	}
	checkMetricLabels(t)
}

// checkAccepted checks a 200 answer, and returns the review as the
// authenticator was asked it.
func checkAccepted(t *testing.T, ans answer, endpoint uint8) review {
	t.Helper()
	if ans.asked.calls != 1 {
		t.Fatalf("got %d authentications for an accepted review, want 1", ans.asked.calls)
	}
	var resp struct {
		APIVersion string          `json:"apiVersion"`
		Kind       string          `json:"kind"`
		Spec       json.RawMessage `json:"spec"`
		Status     struct {
			Authenticated bool     `json:"authenticated"`
			Error         string   `json:"error"`
			Audiences     []string `json:"audiences"`
			User          struct {
				Username string `json:"username"`
			} `json:"user"`
		} `json:"status"`
	}
	if err := json.Unmarshal(ans.body, &resp); err != nil {
		t.Fatalf("got body %q, want a TokenReview: %v", ans.body, err)
	}
	want := fuzzEndpoints[int(endpoint)%len(fuzzEndpoints)].version
	if resp.Kind != "TokenReview" || (resp.APIVersion != V1 && resp.APIVersion != V1beta1) || (want != "" && resp.APIVersion != want) {
		t.Fatalf("got kind %q apiVersion %q, want a TokenReview of the URL's version %q", resp.Kind, resp.APIVersion, want)
	}
	if len(resp.Spec) != 0 && string(resp.Spec) != "{}" {
		t.Fatalf("got spec %s in the answer, want none: it would echo spec.token", resp.Spec)
	}
	st := resp.Status
	tok := ans.asked.token
	switch {
	case fuzzAccepts(tok) && (!st.Authenticated || st.User.Username != "fuzz-user" || st.Error != ""):
		t.Fatalf("got status %+v, want authenticated as fuzz-user", st)
	case fuzzAccepts(tok) && !slices.Equal(st.Audiences, ans.asked.audiences):
		t.Fatalf("got status.audiences %q, want those asked %q", st.Audiences, ans.asked.audiences)
	case !fuzzAccepts(tok) && (st.Authenticated || st.Error != redact.Withheld):
		// The reason quotes the token: it must be withheld, whatever the
		// token's bytes.
		t.Fatalf("got status %+v for a reason quoting the token, want authenticated false and the reason withheld", st)
	}
	return review{apiVersion: resp.APIVersion, token: tok, audiences: ans.asked.audiences}
}

// rejectionMessage is every message a 400 may carry. None quotes what the
// caller sent, but for an apiVersion that is one of the two supported.
var rejectionMessage = regexp.MustCompile(`^(request body is larger than the limit|malformed TokenReview: (` +
	`body is not a TokenReview of authentication\.k8s\.io/v1 or authentication\.k8s\.io/v1beta1|` +
	`spec\.token is empty|` +
	`spec\.audiences has \d+ entries, more than 32|` +
	`spec\.audiences\[\d+\] is longer than 1024 bytes|` +
	`spec\.audiences\[\d+\] is not UTF-8|` +
	`apiVersion "authentication\.k8s\.io/v1(beta1)?" does not match the URL's authentication\.k8s\.io/v1(beta1)?))$`)

func checkRejected(t *testing.T, ans answer) {
	t.Helper()
	if ans.asked.calls != 0 {
		t.Fatalf("got %d authentications for a malformed review, want none", ans.asked.calls)
	}
	var st metav1.Status
	dec := json.NewDecoder(bytes.NewReader(ans.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil || ans.contentType != "application/json" {
		t.Fatalf("got %s body %q, want a JSON metav1.Status: %v", ans.contentType, ans.body, err)
	}
	if st.Kind != "Status" || st.APIVersion != "v1" || st.Status != metav1.StatusFailure || st.Code != int32(ans.code) || st.Reason != metav1.StatusReasonBadRequest {
		t.Fatalf("got %+v, want a Failure Status with code %d and reason BadRequest", st, ans.code)
	}
	if !rejectionMessage.MatchString(st.Message) {
		t.Fatalf("got message %q, want one of the documented ones, quoting nothing the caller sent", st.Message)
	}
}

// checkIndependentDecode: apimachinery's own decoding of an accepted body,
// when it decodes it, reads the same review. tokenfed's JSON path is its
// own (decodeJSON) and may accept more, such as a metadata of the wrong
// type, but never read a different token or audiences.
func checkIndependentDecode(t *testing.T, body []byte, mediaType string, rv review) {
	t.Helper()
	var obj runtime.Object
	if mediaType == runtime.ContentTypeJSON {
		info, _ := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), mediaType)
		o, _, err := info.Serializer.Decode(body, nil, nil)
		if err != nil {
			return
		}
		obj = o
	} else {
		obj = decodeProtobufEnvelope(t, body)
	}
	var got review
	switch tr := obj.(type) {
	case *authenticationv1.TokenReview:
		got = review{apiVersion: V1, token: tr.Spec.Token, audiences: tr.Spec.Audiences}
	case *authenticationv1beta1.TokenReview:
		got = review{apiVersion: V1beta1, token: tr.Spec.Token, audiences: tr.Spec.Audiences}
	default:
		t.Fatalf("got %T from a body tokenfed accepted as a TokenReview", obj)
	}
	got.audiences = dedupe(got.audiences)
	if !sameReview(got, rv) {
		t.Fatalf("tokenfed read %s, apimachinery reads %s", describe(rv), describe(got))
	}
}

// decodeProtobufEnvelope reads a Kubernetes protobuf body by hand: the
// magic, the runtime.Unknown envelope, then the typed message its TypeMeta
// names.
func decodeProtobufEnvelope(t *testing.T, body []byte) runtime.Object {
	t.Helper()
	const magic = "k8s\x00"
	if !bytes.HasPrefix(body, []byte(magic)) {
		t.Fatalf("tokenfed accepted a protobuf body without the magic %q", magic)
	}
	var env runtime.Unknown
	if err := env.Unmarshal(body[len(magic):]); err != nil {
		t.Fatalf("tokenfed accepted a protobuf body whose envelope does not decode: %v", err)
	}
	var obj interface {
		runtime.Object
		Unmarshal([]byte) error
	}
	switch env.APIVersion + "/" + env.Kind {
	case V1 + "/TokenReview":
		obj = &authenticationv1.TokenReview{}
	case V1beta1 + "/TokenReview":
		obj = &authenticationv1beta1.TokenReview{}
	default:
		t.Fatalf("tokenfed accepted a protobuf body of %s %s", env.APIVersion, env.Kind)
	}
	if err := obj.Unmarshal(env.Raw); err != nil {
		t.Fatalf("tokenfed accepted a protobuf body whose TokenReview does not decode: %v", err)
	}
	return obj
}

// checkRoundTrip encodes the review as the authenticator was asked it, in
// the same encoding, posts it again, and wants the same question asked.
func checkRoundTrip(t *testing.T, rv review, mediaType string, endpoint uint8) {
	t.Helper()
	body := encodeJSONReview(rv)
	if mediaType == runtime.ContentTypeProtobuf {
		var err error
		if body, err = encodeProtobufReview(rv); err != nil {
			t.Fatalf("encoding %s: %v", describe(rv), err)
		}
	}
	again := serve(t, body, mediaType, endpoint)
	if again.code != http.StatusOK {
		t.Fatalf("re-encoded %s: got HTTP %d %s, want 200", describe(rv), again.code, again.body)
	}
	got := checkAccepted(t, again, endpoint)
	if !sameReview(got, rv) {
		t.Fatalf("round trip: got %s, want %s", describe(got), describe(rv))
	}
}

func sameReview(a, b review) bool {
	return a.apiVersion == b.apiVersion && a.token == b.token && slices.Equal(a.audiences, b.audiences)
}

// describe names a review without its token's bytes, which may be a real
// credential in a seed someone adds.
func describe(rv review) string {
	return fmt.Sprintf("%s review of a %d-byte token and audiences %q", rv.apiVersion, len(rv.token), rv.audiences)
}

func encodeJSONReview(rv review) []byte {
	body, err := json.Marshal(map[string]any{
		"apiVersion": rv.apiVersion, "kind": "TokenReview",
		"spec": map[string]any{"token": rv.token, "audiences": rv.audiences},
	})
	if err != nil {
		// Only strings and string slices: cannot fail.
		panic(err)
	}
	return body
}

func encodeProtobufReview(rv review) ([]byte, error) {
	var obj runtime.Object = &authenticationv1.TokenReview{
		TypeMeta: metav1.TypeMeta{APIVersion: V1, Kind: "TokenReview"},
		Spec:     authenticationv1.TokenReviewSpec{Token: rv.token, Audiences: rv.audiences},
	}
	if rv.apiVersion == V1beta1 {
		obj = &authenticationv1beta1.TokenReview{
			TypeMeta: metav1.TypeMeta{APIVersion: V1beta1, Kind: "TokenReview"},
			Spec:     authenticationv1beta1.TokenReviewSpec{Token: rv.token, Audiences: rv.audiences},
		}
	}
	info, _ := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), runtime.ContentTypeProtobuf)
	var buf bytes.Buffer
	err := info.Serializer.Encode(obj, &buf)
	return buf.Bytes(), err
}

// fuzzLabels are the only label values the review metrics may carry.
var fuzzLabels = map[string][]string{
	"api_version": {"v1", "v1beta1", "unknown"},
	"outcome":     {"authenticated", "unauthenticated", "malformed", "unavailable"},
	"code":        {"200", "400", "503"},
}

// checkMetricLabels: whatever a caller sends, the metrics' labels stay in
// their fixed sets.
func checkMetricLabels(t *testing.T) {
	t.Helper()
	families, err := fuzzRegistry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if !slices.Contains(fuzzLabels[l.GetName()], l.GetValue()) {
					t.Fatalf("metric %s has label %s=%q, want one of %q", mf.GetName(), l.GetName(), l.GetValue(), fuzzLabels[l.GetName()])
				}
			}
		}
	}
}

// TestFuzzSeedsAreAccepted: the fuzz targets' well-formed seeds get 200 and
// the malformed ones 400, so the invariants above are checked on both
// paths from the first run, not only once the fuzzer finds them.
func TestFuzzSeedsAreAccepted(t *testing.T) {
	for _, mediaType := range []string{runtime.ContentTypeJSON, runtime.ContentTypeProtobuf} {
		codes := map[int]int{}
		for _, s := range reviewSeeds() {
			body := s.json()
			if mediaType == runtime.ContentTypeProtobuf {
				body = s.protobuf(t)
			}
			codes[serve(t, body, mediaType, s.endpoint).code]++
		}
		if codes[http.StatusOK] == 0 || codes[http.StatusBadRequest] == 0 || len(codes) != 2 {
			t.Errorf("%s: got answers by code %v, want both 200 and 400 and nothing else", mediaType, codes)
		}
	}
}
