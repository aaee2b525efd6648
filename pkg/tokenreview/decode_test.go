package tokenreview

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	authenticationv1beta1 "k8s.io/api/authentication/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// audiences is n distinct audiences of size bytes each.
func audiences(n, size int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%0*d", size, i)
	}
	return out
}

var audienceCases = []struct {
	name string
	auds []string
	// want is the decoded audiences; wantErr, when set, the whole error.
	want    []string
	wantErr string
}{
	{name: "none", auds: nil, want: nil},
	{name: "kube-apiserver's one", auds: []string{"https://kubernetes.default.svc"}, want: []string{"https://kubernetes.default.svc"}},
	{name: "repeats dropped, first kept, order kept", auds: []string{"b", "a", "b", "c", "a", "a"}, want: []string{"b", "a", "c"}},
	{name: "32 audiences of 1 KiB", auds: audiences(maxAudiences, maxAudienceBytes), want: audiences(maxAudiences, maxAudienceBytes)},
	{name: "33 audiences", auds: audiences(maxAudiences+1, 8), wantErr: "malformed TokenReview: spec.audiences has 33 entries, more than 32"},
	{
		// Repeats count: they are bytes the caller sent, and a
		// kube-apiserver never repeats its --api-audiences.
		name: "33 copies of one audience", auds: slicesRepeat("a", maxAudiences+1),
		wantErr: "malformed TokenReview: spec.audiences has 33 entries, more than 32",
	},
	{name: "one over 1 KiB", auds: []string{"a", strings.Repeat("<", maxAudienceBytes+1)}, wantErr: "malformed TokenReview: spec.audiences[1] is longer than 1024 bytes"},
}

func slicesRepeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// TestDecodeBoundsAudiences runs every case in every encoding and version
// a caller may send.
func TestDecodeBoundsAudiences(t *testing.T) {
	for _, tc := range audienceCases {
		for _, enc := range encodings {
			t.Run(tc.name+"/"+enc.name, func(t *testing.T) {
				body, mediaType := enc.encode(t, tc.auds)

				rv, err := decodeReview(body, mediaType, "")

				if tc.wantErr != "" {
					if err == nil || err.Error() != tc.wantErr || !errors.Is(err, errMalformed) {
						t.Fatalf("got %v, want malformed: %q", err, tc.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				if diff := cmp.Diff(tc.want, rv.audiences); diff != "" {
					t.Errorf("audiences (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// encodings are the bodies a caller may send: JSON as kube-apiserver
// does, protobuf as client-go does, in both versions.
var encodings = []struct {
	name   string
	encode func(t *testing.T, auds []string) ([]byte, string)
}{
	{"json v1", func(t *testing.T, auds []string) ([]byte, string) {
		return jsonBody(t, V1, auds), runtime.ContentTypeJSON
	}},
	{"json v1beta1", func(t *testing.T, auds []string) ([]byte, string) {
		return jsonBody(t, V1beta1, auds), runtime.ContentTypeJSON
	}},
	{"protobuf v1", func(t *testing.T, auds []string) ([]byte, string) {
		return protobufBody(t, &authenticationv1.TokenReview{TypeMeta: metav1.TypeMeta{APIVersion: V1, Kind: "TokenReview"}, Spec: authenticationv1.TokenReviewSpec{Token: testToken, Audiences: auds}}), runtime.ContentTypeProtobuf
	}},
	{"protobuf v1beta1", func(t *testing.T, auds []string) ([]byte, string) {
		return protobufBody(t, &authenticationv1beta1.TokenReview{TypeMeta: metav1.TypeMeta{APIVersion: V1beta1, Kind: "TokenReview"}, Spec: authenticationv1beta1.TokenReviewSpec{Token: testToken, Audiences: auds}}), runtime.ContentTypeProtobuf
	}},
}

// jsonBody is a review as a caller may write it: '<' unescaped, as
// encoding/json would not.
func jsonBody(t *testing.T, apiVersion string, auds []string) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(map[string]any{
		"apiVersion": apiVersion, "kind": "TokenReview",
		"spec": map[string]any{"token": testToken, "audiences": auds},
	})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func protobufBody(t *testing.T, obj runtime.Object) []byte {
	t.Helper()
	info, _ := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), runtime.ContentTypeProtobuf)
	var buf bytes.Buffer
	if err := info.Serializer.Encode(obj, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestDecodeAudienceErrorsQuoteNothing: the caller's audiences are its own
// text and never come back in the message.
func TestDecodeAudienceErrorsQuoteNothing(t *testing.T) {
	const marker = "caller-text-marker"
	for _, auds := range [][]string{
		{strings.Repeat(marker, maxAudienceBytes/len(marker)+1)},
		slicesRepeat(marker, maxAudiences+1),
	} {
		_, err := decodeReview(jsonBody(t, V1, auds), runtime.ContentTypeJSON, V1)
		if err == nil || strings.Contains(err.Error(), marker) {
			t.Errorf("got %v, want an error that does not quote the audiences", err)
		}
	}
}
