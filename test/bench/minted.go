package main

import (
	"fmt"
	"net/http"
)

// checkMinted makes sure kube-apiserver accepts the tokens this program
// mints offline, before row 5b counts its answers: a rejected token is a
// 201 too, so the load client alone would not notice that kube-apiserver
// refuses every one (and measure its cheap rejection path instead). The
// same token must get the same user from tokenfed, under its prefix
// (DESIGN.md, Identity: "the unprefixed user equals what that cluster's
// own TokenReview says for the same token").
func (e *env) checkMinted(token string) error {
	kas := target{url: e.hub.URL + "/apis/authentication.k8s.io/v1/tokenreviews", tls: e.hubTLS}
	st, err := reviewWant(kas, token, http.StatusCreated)
	if err != nil {
		return fmt.Errorf("%s: %w", kubeDistinctCase, err)
	}
	want := fmt.Sprintf("system:serviceaccount:%s:%s", benchNS, benchSA)
	if !st.Authenticated || st.User.Username != want {
		return fmt.Errorf("%s: kube-apiserver answered a minted token with authenticated %v, user %q (%q); want %q",
			kubeDistinctCase, st.Authenticated, st.User.Username, st.Error, want)
	}
	tf := target{url: e.tokenfed.URL + "/apis/authentication.k8s.io/v1/tokenreviews", tls: e.tfTLS}
	st, err = reviewAs(tf, token)
	if err != nil {
		return fmt.Errorf("tokenfed: %w", err)
	}
	if !st.Authenticated || st.User.Username != "hub:"+want {
		return fmt.Errorf("tokenfed answered a minted token with authenticated %v, user %q (%q); want hub:%s",
			st.Authenticated, st.User.Username, st.Error, want)
	}
	return nil
}
