package upstream

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/tokenfed/tokenfed/pkg/testing/fakeapiserver"
)

// blockedAudience is an audience the cluster's admission refuses to review.
const blockedAudience = "blocked-by-admission"

// admissionForbids answers as kube-apiserver does when a
// ValidatingAdmissionPolicy on tokenreviews with reason Forbidden (or an
// admission webhook answering 403) denies a review for what its spec says
// (TokenReview's Create runs createValidation on spec.token and
// spec.audiences: pkg/registry/authentication/tokenreview/storage.go):
// 403 for a review naming blockedAudience, and authenticated for the rest.
func admissionForbids(w http.ResponseWriter, r *http.Request, review *authenticationv1.TokenReview) {
	if !slices.Contains(review.Spec.Audiences, blockedAudience) {
		answerAuthenticated(w, r, review)
		return
	}
	fakeapiserver.APIStatus(http.StatusForbidden, metav1.StatusReasonForbidden, 0)(w, r, review)
}

// TestReviewForbiddenByAdmissionIsNotHeld: a 403 that is the cluster's
// verdict on one review, not on tokenfed's credential, rejects that review
// and is not remembered for the issuer: otherwise any caller allowed to ask
// about the issuer could send such a review every CredentialHold and have
// every other token of the issuer refused.
func TestReviewForbiddenByAdmissionIsNotHeld(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := fakeapiserver.Start(t, admissionForbids)
	c, _ := newTestClient(t, srv, Options{Clock: clk})

	_, err := c.Review(context.Background(), testToken, []string{blockedAudience})
	if !errors.Is(err, ErrRejected) || errors.Is(err, ErrCredentialRefused) {
		t.Fatalf("got %v for a review the cluster's admission forbids, want ErrRejected, not ErrCredentialRefused", err)
	}
	checkNoToken(t, err)
	if _, err := c.Review(context.Background(), testToken, []string{"api"}); err != nil {
		t.Fatalf("got %v for another review right after, want it authenticated: one review's 403 held every review of the issuer", err)
	}
}
