package tokenfedproc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ReviewAnswer is one review as its caller saw it: the HTTP status, body
// and Retry-After, the decoded status of a 200, and the time it took.
type ReviewAnswer struct {
	Code       int
	Body       string
	RetryAfter string
	Status     authenticationv1.TokenReviewStatus
	Latency    time.Duration
}

// ReviewBody is a v1 TokenReview request for token and audiences.
func ReviewBody(token string, audiences []string) []byte {
	b, err := json.Marshal(authenticationv1.TokenReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "TokenReview"},
		Spec:     authenticationv1.TokenReviewSpec{Token: token, Audiences: audiences},
	})
	if err != nil {
		panic(err) // a TokenReview always marshals
	}
	return b
}

// PostReview posts body to url with c and reads the answer. It does not
// touch testing.T, so goroutines may call it. The error is a transport
// error, or a 200 whose body is no TokenReview.
func PostReview(c *http.Client, url string, body []byte) (ReviewAnswer, error) {
	start := time.Now()
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return ReviewAnswer{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	a := ReviewAnswer{Code: resp.StatusCode, Body: string(data), RetryAfter: resp.Header.Get("Retry-After"), Latency: time.Since(start)}
	if err != nil || a.Code != http.StatusOK {
		return a, err
	}
	var tr authenticationv1.TokenReview
	if err := json.Unmarshal(data, &tr); err != nil {
		return a, fmt.Errorf("decoding %.200s: %w", data, err)
	}
	a.Status = tr.Status
	return a, nil
}
