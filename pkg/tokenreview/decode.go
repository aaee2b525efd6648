package tokenreview

import (
	"errors"
	"fmt"
	"mime"

	authenticationv1 "k8s.io/api/authentication/v1"
	authenticationv1beta1 "k8s.io/api/authentication/v1beta1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
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
	info, _ := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), mediaType)
	obj, gvk, err := info.Serializer.Decode(body, nil, nil)
	if err != nil {
		return nil, malformed("body is not a TokenReview of %s or %s", V1, V1beta1)
	}
	if wantVersion != "" && gvk.GroupVersion().String() != wantVersion {
		return nil, malformed("apiVersion %q does not match the URL's %s", gvk.GroupVersion().String(), wantVersion)
	}
	rv := toReview(obj)
	if rv == nil {
		return nil, malformed("kind is %q, want TokenReview", gvk.Kind)
	}
	if rv.token == "" {
		return nil, malformed("spec.token is empty")
	}
	return rv, nil
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
