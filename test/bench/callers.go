package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
)

// checkCallers makes sure cases 2b and 2c measure what they claim before
// they are measured: both callers are admitted and get the hub token
// authenticated, and both are refused the edge issuer, which proves the
// grant is checked per review (a refused grant is also a 200, so the load
// client alone would not notice a policy that denies everything).
func (e *env) checkCallers(hubToken, edgeToken string) error {
	for _, c := range []struct {
		name          string
		tls           bool
		authorization string
	}{{name: certCallerCase, tls: true}, {name: bearerCallerCase, authorization: "Bearer " + e.callerToken}} {
		t := target{url: e.callersTF.URL + "/apis/authentication.k8s.io/v1/tokenreviews", tls: e.bearerTLS, authorization: c.authorization}
		if c.tls {
			t.tls = e.callersTLS
		}
		st, err := reviewAs(t, hubToken)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		if !st.Authenticated {
			return fmt.Errorf("%s: hub token: got authenticated false (%q), want true", c.name, st.Error)
		}
		st, err = reviewAs(t, edgeToken)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		if st.Authenticated || !strings.Contains(st.Error, "may not review tokens of this issuer") {
			return fmt.Errorf("%s: edge token: got authenticated %v (%q), want a refused grant", c.name, st.Authenticated, st.Error)
		}
	}
	return nil
}

// reviewAs sends one review to t, a tokenfed, and returns its status.
func reviewAs(t target, token string) (authenticationv1.TokenReviewStatus, error) {
	return reviewWant(t, token, http.StatusOK)
}

// reviewWant sends one review to t and returns its status, or an error
// when the answer's HTTP code is not want (kube-apiserver creates a
// TokenReview: 201; tokenfed answers 200).
func reviewWant(t target, token string, want int) (authenticationv1.TokenReviewStatus, error) {
	req, err := http.NewRequest(http.MethodPost, t.url, bytes.NewReader(reviewBody(token)))
	if err != nil {
		return authenticationv1.TokenReviewStatus{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if t.authorization != "" {
		req.Header.Set("Authorization", t.authorization)
	}
	resp, err := client(t, false, 1).Do(req)
	if err != nil {
		return authenticationv1.TokenReviewStatus{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		return authenticationv1.TokenReviewStatus{}, fmt.Errorf("got HTTP %d, want %d", resp.StatusCode, want)
	}
	var tr authenticationv1.TokenReview
	err = json.NewDecoder(resp.Body).Decode(&tr)
	return tr.Status, err
}
