package tokenreview

import (
	"errors"
	"fmt"
	"mime"
	"slices"
	"strings"
	"unicode/utf8"

	authenticationv1 "k8s.io/api/authentication/v1"
	authenticationv1beta1 "k8s.io/api/authentication/v1beta1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	kjson "sigs.k8s.io/json"
)

// Supported apiVersions.
const (
	V1      = "authentication.k8s.io/v1"
	V1beta1 = "authentication.k8s.io/v1beta1"
)

// codecs decode JSON (kube-apiserver's webhook client, curl) and protobuf
// (client-go's typed clients default to it for built-in types).
var codecs = newCodecs()

func newCodecs() serializer.CodecFactory {
	scheme := runtime.NewScheme()
	// Both calls only register static types; an error is a programming bug.
	if err := authenticationv1.AddToScheme(scheme); err != nil {
		panic(err)
	}
	if err := authenticationv1beta1.AddToScheme(scheme); err != nil {
		panic(err)
	}
	return serializer.NewCodecFactory(scheme)
}

// review is the version-independent part of a TokenReview request.
type review struct {
	apiVersion string
	token      string
	audiences  []string
}

// errMalformed marks request errors that are the caller's fault (HTTP 400).
var errMalformed = errors.New("malformed TokenReview")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errMalformed, fmt.Sprintf(format, args...))
}

// supportedMediaType reports whether a Content-Type header can be decoded.
func supportedMediaType(contentType string) (string, bool) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", false
	}
	_, ok := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), mt)
	return mt, ok && mt != runtime.ContentTypeYAML
}

// decodeReview decodes body. wantVersion is the version the URL path names,
// or "" when the body decides (/authenticate).
func decodeReview(body []byte, mediaType, wantVersion string) (*review, error) {
	rv, err := decodeBody(body, mediaType)
	if err != nil {
		return nil, err
	}
	if wantVersion != "" && rv.apiVersion != wantVersion {
		return nil, malformed("apiVersion %q does not match the URL's %s", rv.apiVersion, wantVersion)
	}
	// Whitespace alone is no token either; the chain would trim it to "".
	if strings.TrimSpace(rv.token) == "" {
		return nil, malformed("spec.token is empty")
	}
	if err := checkAudiences(rv.audiences); err != nil {
		return nil, err
	}
	rv.audiences = dedupe(rv.audiences)
	return rv, nil
}

// Bounds of spec.audiences. A kube-apiserver sends its --api-audiences,
// which are a handful (by default one: its service-account issuer URL), and
// an application names the one audience it serves. Beyond the bounds a
// review is malformed, not a question about a token: unbounded, the
// audiences make the review cost more than the token's signature
// (intersecting them is linear per audience, apiserver's Audiences.Has),
// miss the cache at will (they are part of its key), and are forwarded to
// the issuer's cluster, where client-go's JSON escaping of '<', '>' and '&'
// grows a 1 MiB review past kube-apiserver's 3 MiB request limit.
const (
	// maxAudiences is several times the most a real caller sends.
	maxAudiences = 32
	// maxAudienceBytes is above any audience in use (issuer URLs and
	// identifiers of some tens of bytes). With maxAudiences it keeps the
	// audiences of a review within 32 KiB, 192 KiB once escaped.
	maxAudienceBytes = 1024
)

// checkAudiences holds spec.audiences to its bounds. The messages name
// positions and limits only: the values are the caller's text.
//
// An audience must be UTF-8: protobuf carries any bytes, but the JSON
// answer would spell an invalid byte as U+FFFD, so status.audiences would
// not be the audience asked for. A JSON body cannot send one at all.
func checkAudiences(auds []string) error {
	if len(auds) > maxAudiences {
		return malformed("spec.audiences has %d entries, more than %d", len(auds), maxAudiences)
	}
	for i, a := range auds {
		if len(a) > maxAudienceBytes {
			return malformed("spec.audiences[%d] is longer than %d bytes", i, maxAudienceBytes)
		}
		if !utf8.ValidString(a) {
			return malformed("spec.audiences[%d] is not UTF-8", i)
		}
	}
	return nil
}

// dedupe drops repeated audiences in place, keeping the first of each in
// order: a repeat asks nothing new, and without it two spellings of one
// question would be two cache entries. checkAudiences ran first, so the
// scan is under maxAudiences²/2 comparisons and allocates nothing.
func dedupe(auds []string) []string {
	out := auds[:0]
	for _, a := range auds {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

func decodeBody(body []byte, mediaType string) (*review, error) {
	if mediaType == runtime.ContentTypeJSON {
		return decodeJSON(body)
	}
	info, _ := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), mediaType)
	obj, _, err := info.Serializer.Decode(body, nil, nil)
	if err != nil {
		return nil, malformed("body is not a TokenReview of %s or %s", V1, V1beta1)
	}
	if rv := toReview(obj); rv != nil {
		return rv, nil
	}
	return nil, malformed("body is not a TokenReview of %s or %s", V1, V1beta1)
}

// jsonReview is the part of a TokenReview tokenfed reads; v1 and v1beta1
// spell it the same.
type jsonReview struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       struct {
		Token     string   `json:"token"`
		Audiences []string `json:"audiences"`
	} `json:"spec"`
}

// decodeJSON is the hot path: kube-apiserver's webhook client sends JSON.
// One case-sensitive pass (as apimachinery decodes) instead of the
// serializer's kind sniffing plus full decode, which doubled the cost of a
// cached review.
func decodeJSON(body []byte) (*review, error) {
	var jr jsonReview
	if err := kjson.UnmarshalCaseSensitivePreserveInts(body, &jr); err != nil || jr.Kind != "TokenReview" || (jr.APIVersion != V1 && jr.APIVersion != V1beta1) {
		return nil, malformed("body is not a TokenReview of %s or %s", V1, V1beta1)
	}
	return &review{apiVersion: jr.APIVersion, token: jr.Spec.Token, audiences: jr.Spec.Audiences}, nil
}

func toReview(obj runtime.Object) *review {
	switch tr := obj.(type) {
	case *authenticationv1.TokenReview:
		return &review{apiVersion: V1, token: tr.Spec.Token, audiences: tr.Spec.Audiences}
	case *authenticationv1beta1.TokenReview:
		return &review{apiVersion: V1beta1, token: tr.Spec.Token, audiences: tr.Spec.Audiences}
	default:
		return nil
	}
}
