package grpcauth

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
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
	// who it is), and an error line when the authenticator fails or
	// answers with something that is not an identity. Never a token, and
	// never the text of the authenticator's error, exactly as
	// httpauth.Options.Logger. Nil means the call context's logger
	// (klog.FromContext).
	Logger *logr.Logger

	// ClientLimit, if set, bounds per client the tokens that are checked
	// and not accepted, as httpauth.ClientLimit does. Nil: no limit.
	ClientLimit *ClientLimit
}

// DefaultMaxClients is ClientLimit.MaxClients' default.
const DefaultMaxClients = bearer.DefaultMaxClients

// ClientLimit bounds, per client, the tokens that are checked and not
// accepted; see httpauth.ClientLimit, whose semantics it shares. A client
// with no failures left gets ResourceExhausted, without its token being
// checked, and the wait in the grpc-retry-pushback-ms trailer.
type ClientLimit struct {
	// Rate is how many failed checks per second a client earns back.
	// Required, > 0.
	Rate float64
	// Burst is how many failed checks a client may cause at once.
	// Required, >= 1.
	Burst int
	// MaxClients bounds the clients remembered. Default DefaultMaxClients.
	MaxClients int
	// Key names the client of a call. Default PeerIP.
	Key func(context.Context) string
}

// PeerIP is ClientLimit.Key's default: the IP address of the call's peer
// (peer.FromContext), an IPv6 address cut to its /64; for a peer that is
// not TCP, its address as a string.
func PeerIP(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	if a, ok := p.Addr.(*net.TCPAddr); ok {
		return bearer.ClientIP(a.String())
	}
	return p.Addr.String()
}

// Interceptor authenticates calls by their bearer token. Its Unary and
// Stream methods are gRPC server interceptors.
type Interceptor struct {
	checker   *bearer.Checker
	clientKey func(context.Context) string // nil: no ClientLimit
}

// New returns an Interceptor, or an error when opts are incomplete.
func New(opts Options) (*Interceptor, error) {
	cfg := bearer.Config{Authenticator: opts.Authenticator, Audiences: opts.Audiences, Logger: opts.Logger}
	var clientKey func(context.Context) string
	if l := opts.ClientLimit; l != nil {
		cfg.Limit = &bearer.Limit{Rate: l.Rate, Burst: l.Burst, MaxClients: l.MaxClients}
		clientKey = PeerIP
		if l.Key != nil {
			clientKey = l.Key
		}
	}
	checker, err := bearer.NewChecker(cfg)
	if err != nil {
		return nil, err
	}
	return &Interceptor{checker: checker, clientKey: clientKey}, nil
}

// Unary is a grpc.UnaryServerInterceptor: handler runs only for an
// accepted token, with the user in its context.
func (i *Interceptor) Unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	authed, pushback, err := i.authenticate(ctx)
	if err != nil {
		if pushback != nil {
			// Fails only outside a server call (a test's bare context).
			_ = grpc.SetTrailer(ctx, pushback)
		}
		return nil, err
	}
	return handler(authed, req)
}

// Stream is a grpc.StreamServerInterceptor: handler runs only for an
// accepted token, with a stream whose Context has the user.
func (i *Interceptor) Stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, pushback, err := i.authenticate(ss.Context())
	if err != nil {
		if pushback != nil {
			ss.SetTrailer(pushback)
		}
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
	msgLimited       = "too many tokens from this client were not accepted"
)

// pushbackKey is the trailer in which a server tells a client with a retry
// policy how long to wait before it retries (gRFC A6).
const pushbackKey = "grpc-retry-pushback-ms"

// authenticate returns the context for the handler: with the user
// (request.WithUser) and accepted audiences, and without the authorization
// metadata, so that a handler that forwards incoming metadata does not
// forward the token.
//
// gRPC has no 400/401 split and no challenge: every refusal about the
// credentials is Unauthenticated, and only the message tells a malformed
// one from a rejected token. Unavailable says the token was not judged;
// with it, and with ResourceExhausted for a client over its ClientLimit,
// comes the trailer to set (pushback), when a wait is known.
func (i *Interceptor) authenticate(ctx context.Context) (context.Context, metadata.MD, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	var client string
	if i.clientKey != nil {
		client = i.clientKey(ctx)
	}
	res := i.checker.Check(ctx, md.Get(authorizationKey), client)
	switch res.Outcome {
	case bearer.Accepted:
		md = md.Copy()
		md.Delete(authorizationKey)
		return metadata.NewIncomingContext(res.Context, md), nil, nil
	case bearer.NoCredentials:
		return nil, nil, status.Error(codes.Unauthenticated, msgNoCredentials)
	case bearer.Malformed:
		return nil, nil, status.Error(codes.Unauthenticated, msgMalformed+res.Problem.Description)
	case bearer.Rejected:
		return nil, nil, status.Error(codes.Unauthenticated, msgRejected)
	case bearer.Unavailable:
		return nil, pushback(res.RetryAfter), status.Error(codes.Unavailable, msgUnavailable)
	case bearer.Limited:
		return nil, pushback(res.RetryAfter), status.Error(codes.ResourceExhausted, msgLimited)
	default:
		return nil, nil, status.Error(codes.Internal, msgFaulty)
	}
}

// pushback is the trailer asking a client to wait d before retrying; nil
// for no wait known.
func pushback(d time.Duration) metadata.MD {
	if d <= 0 {
		return nil
	}
	return metadata.Pairs(pushbackKey, strconv.FormatInt(int64((d+time.Millisecond-1)/time.Millisecond), 10))
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
