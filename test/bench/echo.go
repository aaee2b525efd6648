package main

import (
	"encoding/json"
	"net/http"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// echoHandler is the ceiling: a trivial HTTPS handler that decodes a
// TokenReview and encodes an answer, with no authentication at all.
func echoHandler(w http.ResponseWriter, r *http.Request) {
	var tr authenticationv1.TokenReview
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&tr); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(&authenticationv1.TokenReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "TokenReview"},
		Status:   authenticationv1.TokenReviewStatus{Authenticated: len(tr.Spec.Token) > 0, User: authenticationv1.UserInfo{Username: "echo"}},
	})
}

// serveEcho runs the echo server in this process (the bench re-executes
// itself with -echo so the ceiling is a separate process, like tokenfed).
func serveEcho(addr, cert, key string) error {
	srv := &http.Server{Addr: addr, Handler: http.HandlerFunc(echoHandler)}
	return srv.ListenAndServeTLS(cert, key)
}
