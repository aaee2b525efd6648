package upstream

import (
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
)

var codecs = func() serializer.CodecFactory {
	scheme := runtime.NewScheme()
	// Registers static types only; an error is a programming bug.
	if err := authenticationv1.AddToScheme(scheme); err != nil {
		panic(err)
	}
	return serializer.NewCodecFactory(scheme)
}()
