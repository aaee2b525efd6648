package tokenreview

import (
	"errors"
	"fmt"
	"mime"

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
	if rv.token == "" {
		return nil, malformed("spec.token is empty")
	}
	return rv, nil
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
