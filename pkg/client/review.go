package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	jsonserializer "k8s.io/apimachinery/pkg/runtime/serializer/json"
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

// askOnce posts one TokenReview. The client sends it and reads the answer
// itself, through the http.Client client-go builds (TLS, the caller's
// credential, proxy, user agent), and never through client-go's REST
// request: that logs request and response bodies (spec.token, and whatever
// the server echoes) at -v=8 with klog.FromContext, which is klog's global
// logger whenever contextual logging is off, as an application may turn
// it at any time. It also retries answers with Retry-After on its own, a
// 429 included, hides the status line and headers, reads bodies
// unbounded, and takes a body without apiVersion and kind for the type
// asked for.
func (c *Client) askOnce(ctx context.Context, token string, auds []string) (*authenticator.Response, error) {
	body, err := json.Marshal(&authenticationv1.TokenReview{
		TypeMeta: metaTokenReview,
		Spec:     authenticationv1.TokenReviewSpec{Token: token, Audiences: auds},
	})
	if err != nil {
		return nil, &UnavailableError{Reason: "encoding the review", cause: err}
	}
	var a answer
	req, err := http.NewRequestWithContext(quiet(withAnswer(ctx, &a)), http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, &UnavailableError{Reason: "building the request", cause: err}
	}
	req.Header.Set("Content-Type", runtime.ContentTypeJSON)
	req.Header.Set("Accept", runtime.ContentTypeJSON)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, noAnswer(ctx, err, token)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	switch {
	case err != nil && ended(ctx) != nil:
		return nil, &UnavailableError{Code: a.code, Reason: "answer cut short", cause: ended(ctx)}
	case err != nil:
		return nil, &UnavailableError{Code: a.code, Reason: "answer cut short", cause: withheldIfQuoting(err, token)}
	case len(data) > maxAnswerBytes:
		return nil, &UnavailableError{Code: a.code, Reason: fmt.Sprintf("answer over %d MiB", maxAnswerBytes>>20)}
	case a.code != http.StatusOK && a.code != http.StatusCreated:
		return nil, refusal(a, data, token)
	}
	out, err := decodeReview(data)
	if err != nil {
		return nil, &UnavailableError{Code: a.code, Reason: "answer is not an authentication.k8s.io/v1 TokenReview"}
	}
	return verdict(a.code, &out.Status, auds, token)
}

// decodeReview decodes an answer that says it is an
// authentication.k8s.io/v1 TokenReview: the review posted is one, and
// kube-apiserver and tokenfed answer in the version asked. Decoding into a
// typed object would fill in a missing apiVersion and kind from it.
func decodeReview(data []byte) (*authenticationv1.TokenReview, error) {
	gvk, err := jsonserializer.DefaultMetaFactory.Interpret(data)
	if err != nil {
		return nil, err
	}
	if *gvk != authenticationv1.SchemeGroupVersion.WithKind("TokenReview") {
		return nil, fmt.Errorf("got %s", gvk)
	}
	var out authenticationv1.TokenReview
	if _, _, err := codecs.UniversalDeserializer().Decode(data, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// withheldIfQuoting is err, or in its place a fixed error if its text
// quotes the token.
func withheldIfQuoting(err error, token string) error {
	if redact.Quotes(err.Error(), token) {
		return errors.New(withheld)
	}
	return err
}

// verdict reads an answer's status. Audiences are checked as
// kube-apiserver's webhook client checks them: an answer to a review that
// named audiences is valid for those it has in common with them. An
// authenticated answer that names no user, or any of whose strings quotes
// the token, is a broken or hostile server's: nothing is known about the
// token.
func verdict(code int, st *authenticationv1.TokenReviewStatus, auds []string, token string) (*authenticator.Response, error) {
	if !st.Authenticated {
		return nil, &NotAuthenticatedError{Code: code, Reason: serverText(st.Error, token)}
	}
	if st.User.Username == "" {
		return nil, &UnavailableError{Code: code, Reason: "answer refused: authenticated, but it names no user"}
	}
	if quotesToken(st, token) {
		return nil, &UnavailableError{Code: code, Reason: "answer refused: its user or audiences quote the token"}
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
// posts to whatever URL it is given, and an application logs the user and
// audiences it gets. Every string of the answer that reaches the caller is
// checked (status.error is scrubbed instead, by serverText).
func quotesToken(st *authenticationv1.TokenReviewStatus, token string) bool {
	quotes := func(s string) bool { return redact.Quotes(s, token) }
	u := &st.User
	if quotes(u.Username) || quotes(u.UID) || slices.ContainsFunc(u.Groups, quotes) || slices.ContainsFunc(st.Audiences, quotes) {
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
