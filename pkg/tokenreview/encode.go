package tokenreview

import (
	"github.com/tokenfed/tokenfed/pkg/authn/mapping"

	authenticationv1 "k8s.io/api/authentication/v1"
	authenticationv1beta1 "k8s.io/api/authentication/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
)

// outcome is the version-independent answer.
type outcome struct {
	resp          *authenticator.Response
	authenticated bool
	errMsg        string
	// unavailable: the token's cluster could not be asked. Answered with
	// 503, not authenticated=false: a denial would be cached by the calling
	// apiserver (for its webhook cache TTL) although nothing is known
	// about the token, while a 5xx is retried and never cached.
	unavailable bool
}

// encodeResponse builds the response object in apiVersion. It carries
// status only: spec (and so spec.token) is deliberately left empty.
func encodeResponse(apiVersion string, o outcome) any {
	if apiVersion == V1beta1 {
		return &authenticationv1beta1.TokenReview{
			TypeMeta: metav1.TypeMeta{APIVersion: V1beta1, Kind: "TokenReview"},
			Status:   v1beta1Status(o),
		}
	}
	return &authenticationv1.TokenReview{
		TypeMeta: metav1.TypeMeta{APIVersion: V1, Kind: "TokenReview"},
		Status:   v1Status(o),
	}
}

func v1Status(o outcome) authenticationv1.TokenReviewStatus {
	st := authenticationv1.TokenReviewStatus{Authenticated: o.authenticated, Error: o.errMsg}
	if !o.authenticated || o.resp == nil {
		return st
	}
	u := o.resp.User
	st.User = authenticationv1.UserInfo{Username: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups()}
	mapping.RangeExtra(u, func(k string, v []string) {
		if st.User.Extra == nil {
			st.User.Extra = make(map[string]authenticationv1.ExtraValue, 8)
		}
		st.User.Extra[k] = v
	})
	st.Audiences = o.resp.Audiences
	return st
}

func v1beta1Status(o outcome) authenticationv1beta1.TokenReviewStatus {
	v1 := v1Status(o)
	st := authenticationv1beta1.TokenReviewStatus{Authenticated: v1.Authenticated, Error: v1.Error, Audiences: v1.Audiences}
	st.User = authenticationv1beta1.UserInfo{Username: v1.User.Username, UID: v1.User.UID, Groups: v1.User.Groups}
	if len(v1.User.Extra) > 0 {
		st.User.Extra = make(map[string]authenticationv1beta1.ExtraValue, len(v1.User.Extra))
		for k, v := range v1.User.Extra {
			st.User.Extra[k] = authenticationv1beta1.ExtraValue(v)
		}
	}
	return st
}

// errorStatus is the body of a 4xx/5xx answer.
func errorStatus(code int32, reason metav1.StatusReason, msg string) *metav1.Status {
	return &metav1.Status{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
		Status:   metav1.StatusFailure,
		Code:     code,
		Reason:   reason,
		Message:  msg,
	}
}
