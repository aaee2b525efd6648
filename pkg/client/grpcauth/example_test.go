package grpcauth_test

import (
	"context"

	"google.golang.org/grpc"
	"k8s.io/apiserver/pkg/authentication/authenticator"

	"github.com/tokenfed/tokenfed/pkg/client/grpcauth"
)

func ExampleNew() {
	// In an application this is tokenfed's Go client (pkg/client).
	var tf authenticator.Token = authenticator.TokenFunc(func(context.Context, string) (*authenticator.Response, bool, error) {
		return nil, false, nil
	})
	icpt, err := grpcauth.New(grpcauth.Options{Authenticator: tf, Audiences: []string{"https://orders.example"}})
	if err != nil {
		panic(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(icpt.Unary), grpc.ChainStreamInterceptor(icpt.Stream))
	defer srv.Stop()
	// Register services, then srv.Serve(listener).
}
