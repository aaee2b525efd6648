package httpauth_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/tokenfed/tokenfed/pkg/client/httpauth"
)

func ExampleMiddleware_Wrap() {
	// In an application this is tokenfed's Go client (pkg/client); any
	// authenticator.Token that honours the audiences asked for works.
	tf := authenticator.TokenFunc(func(ctx context.Context, token string) (*authenticator.Response, bool, error) {
		asked, _ := authenticator.AudiencesFrom(ctx)
		if token != "example-token-for-orders" || !asked.Has("https://orders.example") {
			return nil, false, nil
		}
		u := &user.DefaultInfo{Name: "edge:system:serviceaccount:ns:shop"}
		return &authenticator.Response{User: u, Audiences: authenticator.Audiences{"https://orders.example"}}, true, nil
	})
	mw, err := httpauth.New(httpauth.Options{Authenticator: tf, Audiences: []string{"https://orders.example"}, Realm: "orders"})
	if err != nil {
		panic(err)
	}
	api := mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := request.UserFrom(r.Context())
		fmt.Fprintf(w, "hello %s", u.GetName())
	}))
	srv := httptest.NewServer(api)
	defer srv.Close()

	for _, auth := range []string{"Bearer example-token-for-orders", "Bearer another-token", ""} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/orders", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Print(resp.StatusCode)
		if c := resp.Header.Get("WWW-Authenticate"); c != "" {
			fmt.Print(" ", c)
		}
		fmt.Println()
		if resp.StatusCode == http.StatusOK {
			fmt.Println(string(body))
		}
	}
	// Output:
	// 200
	// hello edge:system:serviceaccount:ns:shop
	// 401 Bearer realm="orders", error="invalid_token", error_description="the token is invalid, expired, revoked or not for this service"
	// 401 Bearer realm="orders"
}
