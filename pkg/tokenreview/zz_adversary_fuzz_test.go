package tokenreview

import "testing"

func FuzzAdversaryDecode(f *testing.F) {
	f.Add([]byte("k8s\x00\n\x1e\n\x18authentication.k8s.io/v1\x12\x0bTokenReview\x12\x08\n\x00\x12\x04\n\x02ab"), true)
	f.Add([]byte(`{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"a"}}`), false)
	f.Fuzz(func(t *testing.T, body []byte, proto bool) {
		mt := "application/json"
		if proto {
			mt = "application/vnd.kubernetes.protobuf"
		}
		_, _ = decodeReview(body, mt, "")
	})
}
