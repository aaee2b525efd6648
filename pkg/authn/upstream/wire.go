package upstream

import (
	"context"
	"net/http"
)

// statusKey holds, in a request's context, where the wire's HTTP status
// goes.
type statusKey struct{}

// withStatus returns a context in which the status of the one HTTP answer
// to the request made with it is written to code.
func withStatus(ctx context.Context, code *int) context.Context {
	return context.WithValue(ctx, statusKey{}, code)
}

// statusRecorder notes each answer's HTTP status. client-go's errors hide
// it (a plain-text 500 comes back without one) or replace it with the code
// a Status body claims, which is the cluster's to invent; the status line
// is what tokenfed saw itself.
type statusRecorder struct{ next http.RoundTripper }

func (s statusRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(req)
	if code, ok := req.Context().Value(statusKey{}).(*int); ok && resp != nil {
		*code = resp.StatusCode
	}
	return resp, err
}
