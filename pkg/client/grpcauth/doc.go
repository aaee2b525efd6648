// Package grpcauth is a pair of gRPC server interceptors that protect an
// application's own gRPC API with bearer tokens checked by tokenfed (or by
// any k8s.io/apiserver authenticator.Token).
//
//	tf, err := client.New(...) // tokenfed's Go client, an authenticator.Token
//	if err != nil { ... }
//	icpt, err := grpcauth.New(grpcauth.Options{
//		Authenticator: tf,
//		Audiences:     []string{"https://orders.example.com"},
//	})
//	if err != nil { ... }
//	srv := grpc.NewServer(
//		grpc.Creds(tlsCreds),
//		grpc.ChainUnaryInterceptor(icpt.Unary),
//		grpc.ChainStreamInterceptor(icpt.Stream),
//	)
//
// and in a method:
//
//	u, _ := request.UserFrom(ctx) // k8s.io/apiserver/pkg/endpoints/request
//
// The token is read from the "authorization" metadata, in the form of
// RFC 6750 §2.1 ("Bearer <b64token>", exactly one value), with the same
// parser as httpauth. On success the user is in the context as
// k8s.io/apiserver puts it (request.WithUser): the handler's context for a
// unary call, the stream's Context() for a streaming one. The audiences
// the token was accepted for are in TokenAudiencesFrom, and the
// authorization metadata is removed from the incoming metadata, so a
// handler that forwards its incoming metadata does not forward the token.
//
// # Status codes
//
//	no authorization metadata, or another scheme   Unauthenticated  "bearer token required"
//	malformed (two values, two tokens, charset)    Unauthenticated  "malformed authorization: ..."
//	token rejected, or not for Audiences           Unauthenticated  "the token is invalid, ..."
//	authenticator error (tokenfed unavailable,     Unavailable       pushback: the error's RetryAfter
//	  or refusing this app)
//	client over its ClientLimit (if set)           ResourceExhausted pushback: the client's wait
//	accepted, but not an identity (a bug)          Internal
//
// gRPC has no 400/401 split and no challenge, so every problem with the
// credentials is Unauthenticated and the message says which; HTTP's
// invalid_request is not InvalidArgument, which is about the request
// message, not its credentials. An authenticator error means the token
// was not judged: Unavailable, which clients may retry, never
// Unauthenticated. Messages are fixed words: never the token or the
// authenticator's error. The error's text is not logged either, only its
// Go types and numbers, as httpauth's package documentation explains; an
// accepted token whose answer is not an identity (no user, no name, the
// anonymous user, or text that quotes the token) is Internal.
//
// When a wait is known (the authenticator's error carries a RetryAfter,
// as pkg/client's CallerRefusedError does for tokenfed's 429, or the
// client is over its ClientLimit), it is sent in the
// grpc-retry-pushback-ms trailer, which gRPC clients with a retry policy
// honour (gRFC A6). ClientLimit is httpauth.ClientLimit for gRPC, keyed
// by default by the peer's IP address (PeerIP); its limits are the same.
//
// Send credentials only over a secure transport: gRPC's own per-RPC
// credentials (oauth.TokenSource) refuse to send over an insecure one.
package grpcauth
