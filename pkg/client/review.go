package client

import (
	"context"
	"errors"
	"slices"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/tokenfed/tokenfed/pkg/redact"
)

// ask reviews token, retrying transient failures while the wait before the
// next attempt ends before ctx's deadline.
func (c *Client) ask(ctx context.Context, token string, auds []string) (*authenticator.Response, error) {
	for attempt := 0; ; attempt++ {
		resp, err := c.askOnce(ctx, token, auds)
		var u *UnavailableError
		if !errors.As(err, &u) || !u.retry || attempt >= c.maxRetries {
			return resp, err
		}
		if !c.wait(ctx, retryDelay(u, attempt)) {
			return nil, err
		}
	}
}

// retryDelay is the server's Retry-After, or else a backoff doubling from
// 100ms.
func retryDelay(u *UnavailableError, attempt int) time.Duration {
	if u.RetryAfter > 0 {
		return u.RetryAfter
	}
	return defaultBackoffBase << min(attempt, 10)
}

// wait waits d, unless ctx ends first or would have ended by then: a
// retry that cannot happen is not waited for.
func (c *Client) wait(ctx context.Context, d time.Duration) bool {
	if deadline, ok := ctx.Deadline(); ok && !c.clock.Now().Add(d).Before(deadline) {
		return false
	}
	t := c.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-ctx.Done():
		return false
	}
}

// askOnce posts one TokenReview. MaxRetries(0): client-go would otherwise
// retry an answer with Retry-After up to ten times on its own, a 429
// included, spending more of a caller's rate that is already spent.
func (c *Client) askOnce(ctx context.Context, token string, auds []string) (*authenticator.Response, error) {
	var a answer
	review := &authenticationv1.TokenReview{
		TypeMeta: metaTokenReview,
		Spec:     authenticationv1.TokenReviewSpec{Token: token, Audiences: auds},
	}
	res := c.rest.Post().MaxRetries(0).Body(review).Do(quiet(withAnswer(ctx, &a)))
	if err := res.Error(); err != nil {
		return nil, classify(ctx, err, a, token)
	}
	var out authenticationv1.TokenReview
	if err := res.Into(&out); err != nil {
		return nil, &UnavailableError{Code: a.code, Reason: "undecodable answer"}
	}
	return verdict(a.code, &out.Status, auds, token)
}

// verdict reads an answer's status. Audiences are checked as
// kube-apiserver's webhook client checks them: an answer to a review that
// named audiences is valid for those it has in common with them.
func verdict(code int, st *authenticationv1.TokenReviewStatus, auds []string, token string) (*authenticator.Response, error) {
	if !st.Authenticated {
		return nil, &NotAuthenticatedError{Code: code, Reason: bounded(redact.Scrub(st.Error, token))}
	}
	if quotesToken(&st.User, token) {
		return nil, &UnavailableError{Code: code, Reason: "answer refused: its user quotes the token"}
	}
	got := st.Audiences
	if len(auds) > 0 {
		if got = authenticator.Audiences(auds).Intersect(st.Audiences); len(got) == 0 {
			return nil, &NotAuthenticatedError{Code: code, Reason: "the answer is valid for none of the requested audiences"}
		}
	}
	info := &user.DefaultInfo{Name: st.User.Username, UID: st.User.UID, Groups: st.User.Groups}
	if st.User.Extra != nil {
		info.Extra = make(map[string][]string, len(st.User.Extra))
		for k, v := range st.User.Extra {
			info.Extra[k] = v
		}
	}
	return &authenticator.Response{User: info, Audiences: got}, nil
}

// quotesToken: tokenfed never puts a token in an answer, but this client
// posts to whatever URL it is given, and an application logs the user it
// gets.
func quotesToken(u *authenticationv1.UserInfo, token string) bool {
	quotes := func(s string) bool { return redact.Scrub(s, token) != s }
	if quotes(u.Username) || quotes(u.UID) || slices.ContainsFunc(u.Groups, quotes) {
		return true
	}
	for k, v := range u.Extra {
		if quotes(k) || slices.ContainsFunc(v, quotes) {
			return true
		}
	}
	return false
}

var metaTokenReview = metav1.TypeMeta{APIVersion: authenticationv1.SchemeGroupVersion.String(), Kind: "TokenReview"}
