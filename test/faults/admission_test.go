package faults

import (
	"context"
	"fmt"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/federation"
)

// admissionProbeName is the ConfigMap the policy forbids: seeing it
// forbidden shows the policy is enforced.
const admissionProbeName = "faults-admission-probe"

// policyActiveWithin bounds how long kube-apiserver takes to enforce a new
// ValidatingAdmissionPolicy (its informer), on a loaded 2-core machine.
const policyActiveWithin = 30 * time.Second

// admittedReviewLatency bounds an authenticated review: a local
// verification and one call to the hub, on a loaded 2-core machine.
const admittedReviewLatency = 3 * time.Second

// TestAdmissionCannotForbidReviews holds the premise of
// upstream.isCredentialRefusal: a 401 or 403 from kube-apiserver's
// TokenReview API is about tokenfed's credential, never about the review.
// It authenticates and authorizes before reading the body, and admission,
// which does read spec.token and spec.audiences (the TokenReview REST
// storage calls createValidation), exempts tokenreviews from webhooks and
// policies (k8s.io/kubernetes pkg/kubeapiserver/admission/exclusion). Were
// that to change, a caller could send a review the cluster's admission
// forbids with 403, and tokenfed would hold every review of the issuer as
// refused for upstream.CredentialHold, again and again. A
// ValidatingAdmissionPolicy with reason Forbidden that denies every
// TokenReview, and one ConfigMap to show it is enforced, leaves reviews
// answered, and tokenfed's review through the hub authenticated.
func TestAdmissionCannotForbidReviews(t *testing.T) {
	hub := sharedHub(t)
	denyEveryReview(t, hub)
	_, err := hub.Client.AuthenticationV1().TokenReviews().Create(t.Context(),
		&authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: "faults-not-a-token"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("got %v from the hub's TokenReview API under a policy denying every TokenReview, want an answer: admission now applies to tokenreviews, and a 403 may be about the review (see upstream.isCredentialRefusal)", err)
	}
	// The objects may be there from an earlier run against this hub.
	if _, err := hub.CreateNamespace(t.Context(), "faults-admission"); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if _, err := hub.CreateServiceAccount(t.Context(), "faults-admission", "reviewed"); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	token, err := hub.CreateToken(t.Context(), "faults-admission", "reviewed", controlplane.TokenOptions{Audiences: []string{hub.IssuerURL}})
	if err != nil {
		t.Fatal(err)
	}
	is := federation.HubIssuer("hub", hub)
	is.Upstream = &v1alpha1.Upstream{Kubeconfig: hub.Kubeconfig, Policy: v1alpha1.UpstreamAlways, Timeout: duration(upstreamTimeout)}
	tf := startTokenfed(t, v1alpha1.Configuration{Issuers: []v1alpha1.Issuer{is}})
	accepted(t, tf.mustReview(t, token), "hub:system:serviceaccount:faults-admission:reviewed", admittedReviewLatency)
	tf.noServerFaults(t)
}

// denyEveryReview makes hub's admission deny, with 403, every TokenReview
// and the ConfigMap admissionProbeName, and waits until the ConfigMap is
// denied.
func denyEveryReview(t *testing.T, hub *controlplane.ControlPlane) {
	t.Helper()
	ctx := t.Context()
	forbidden := metav1.StatusReasonForbidden
	create := []admissionregistrationv1.OperationType{admissionregistrationv1.Create}
	rule := func(group, resource string) admissionregistrationv1.NamedRuleWithOperations {
		return admissionregistrationv1.NamedRuleWithOperations{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
			Operations: create,
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{group}, APIVersions: []string{"*"}, Resources: []string{resource}},
		}}
	}
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "faults-deny-reviews"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{
				rule("authentication.k8s.io", "tokenreviews"), rule("", "configmaps"),
			}},
			Validations: []admissionregistrationv1.Validation{{
				Expression: fmt.Sprintf("request.resource.resource != 'tokenreviews' && object.metadata.name != '%s'", admissionProbeName),
				Reason:     &forbidden,
				Message:    "denied by tokenfed's fault test",
			}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: policy.Name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        policy.Name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
		},
	}
	api := hub.Client.AdmissionregistrationV1()
	if _, err := api.ValidatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = api.ValidatingAdmissionPolicies().Delete(context.Background(), policy.Name, metav1.DeleteOptions{})
	})
	if _, err := api.ValidatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = api.ValidatingAdmissionPolicyBindings().Delete(context.Background(), binding.Name, metav1.DeleteOptions{})
	})
	probe := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: admissionProbeName}}
	waitFor(t, policyActiveWithin, "the hub's admission to deny the ConfigMap "+admissionProbeName, func() (bool, string) {
		_, err := hub.Client.CoreV1().ConfigMaps("default").Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return apierrors.IsForbidden(err), fmt.Sprintf("creating it answered %v", err)
	})
}
