package grpcauth

import (
	"context"

	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"k8s.io/apiserver/pkg/authentication/authenticator"

	"github.com/tokenfed/tokenfed/pkg/client/internal/bearer"
)

// authorizationKey is the metadata key of the credentials: gRPC sends the
// HTTP/2 authorization header field, and metadata keys are lower case.
const authorizationKey = "authorization"

// Options configure an Interceptor.
type Options struct {
	// Authenticator checks tokens, exactly as httpauth.Options.Authenticator:
	// it is given Audiences through authenticator.WithAudiences, must
	// answer with the ones it checked, and returns an error only when it
	// could not judge the token. Required.
	Authenticator authenticator.Token

	// Audiences this service accepts: a token must have been minted for
	// one of them. Required, non-empty.
	Audiences []string

	// Logger receives one line per call at V(2) (why it was refused, or
	// who it is) and errors of the authenticator. Never a token. Nil means
	// the call context's logger (klog.FromContext).
	Logger *logr.Logger
}

// Interceptor authenticates calls by their bearer token. Its Unary and
// Stream methods are gRPC server interceptors.
type Interceptor struct {
	checker *bearer.Checker
}

// New returns an Interceptor, or an error when opts are incomplete.
func New(opts Options) (*Interceptor, error) {
	checker, err := bearer.NewChecker(opts.Authenticator, opts.Audiences, opts.Logger)
	if err != nil {
		return nil, err
	}
	return &Interceptor{checker: checker}, nil
}

// Unary is a grpc.UnaryServerInterceptor: handler runs only for an
// accepted token, with the user in its context.
func (i *Interceptor) Unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := i.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// Stream is a grpc.StreamServerInterceptor: handler runs only for an
// accepted token, with a stream whose Context has the user.
func (i *Interceptor) Stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := i.authenticate(ss.Context())
	if err != nil {
		return err
	}
	return handler(srv, &serverStream{ServerStream: ss, ctx: ctx})
}

// Status messages are fixed words: never the token, never the
// authenticator's error.
const (
	msgNoCredentials = "bearer token required"
	msgMalformed     = "malformed authorization: "
	msgRejected      = "the token is invalid, expired, revoked or not for this service"
	msgUnavailable   = "authentication is temporarily unavailable"
	msgFaulty        = "internal error"
)

// authenticate returns the context for the handler: with the user
// (request.WithUser) and accepted audiences, and without the authorization
// metadata, so that a handler that forwards incoming metadata does not
// forward the token.
//
// gRPC has no 400/401 split and no challenge: every refusal about the
// credentials is Unauthenticated, and only the message tells a malformed
// one from a rejected token. Unavailable says the token was not judged.
func (i *Interceptor) authenticate(ctx context.Context) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	authed, outcome, problem := i.checker.Check(ctx, md.Get(authorizationKey))
	switch outcome {
	case bearer.Accepted:
		md = md.Copy()
		md.Delete(authorizationKey)
		return metadata.NewIncomingContext(authed, md), nil
	case bearer.NoCredentials:
		return nil, status.Error(codes.Unauthenticated, msgNoCredentials)
	case bearer.Malformed:
		return nil, status.Error(codes.Unauthenticated, msgMalformed+problem.Description)
	case bearer.Rejected:
		return nil, status.Error(codes.Unauthenticated, msgRejected)
	case bearer.Unavailable:
		return nil, status.Error(codes.Unavailable, msgUnavailable)
	default:
		return nil, status.Error(codes.Internal, msgFaulty)
	}
}

// serverStream is ss with the authenticated context.
type serverStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *serverStream) Context() context.Context { return s.ctx }

// TokenAudiencesFrom returns the audiences the call's token was accepted
// for: those of Options.Audiences that the authenticator confirmed. It is
// the same value httpauth.TokenAudiencesFrom reads.
func TokenAudiencesFrom(ctx context.Context) (authenticator.Audiences, bool) {
	return bearer.TokenAudiencesFrom(ctx)
}
