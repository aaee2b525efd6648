package revocation

import (
	"unique"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// object is all the watch keeps of one object: what kube-apiserver's
// token validators read of it (pkg/serviceaccount/claims.go and legacy.go:
// name, UID, deletion timestamp, whether a Secret has the invalid-since
// label), plus what client-go's store needs (namespace for the key,
// resource version). Everything else of the metadata (labels, annotations,
// owner references, managed fields) is dropped as the object arrives, so
// an object costs about 250 bytes however large it is in the cluster.
type object struct {
	// namespace is interned: a cluster has few, shared by many objects, and
	// an interned one is freed once its last object is.
	namespace       unique.Handle[string]
	name, uid, rv   string
	deletionSeconds int64 // deletionTimestamp in Unix seconds; 0: none
	// invalidated: a Secret labelled InvalidSinceLabel, whose legacy token
	// kube-apiserver refuses.
	invalidated bool
}

// InvalidSinceLabel marks a legacy token's Secret whose token
// kube-apiserver refuses (pkg/serviceaccount/legacy.go,
// InvalidSinceLabelKey): set by kube-controller-manager's legacy token
// cleaner, or by hand, and removable to allow the token again.
const InvalidSinceLabel = "kubernetes.io/legacy-token-invalid-since"

var _ metav1.ObjectMetaAccessor = &object{}

// GetObjectMeta lets client-go's key function and store (meta.Accessor)
// read the object; it allocates, and runs once per event.
func (o *object) GetObjectMeta() metav1.Object {
	return &metav1.ObjectMeta{Namespace: o.namespace.Value(), Name: o.name, ResourceVersion: o.rv}
}

// compact is the informer's transform (cache.TransformFunc). It is
// idempotent, as client-go asks, and leaves what is not metadata alone
// (client-go does not transform tombstones).
func compact(in any) (any, error) {
	m, ok := in.(*metav1.PartialObjectMetadata)
	if !ok {
		return in, nil
	}
	o := &object{namespace: internNamespace(m.Namespace), name: m.Name, uid: string(m.UID), rv: m.ResourceVersion}
	if m.DeletionTimestamp != nil {
		o.deletionSeconds = m.DeletionTimestamp.Unix()
	}
	o.invalidated = m.Labels[InvalidSinceLabel] != ""
	return o, nil
}

func internNamespace(ns string) unique.Handle[string] { return unique.Make(ns) }
