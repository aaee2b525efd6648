package grpcauth_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/grpclog"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/tokenfed/tokenfed/pkg/client/grpcauth"
	"github.com/tokenfed/tokenfed/pkg/client/internal/authtest"
	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
)

// grpcVerbosity: gRPC's own logs at their most detailed go to the scanned
// log too.
const grpcVerbosity = 99

func TestMain(m *testing.M) {
	os.Exit(authtest.Main(m, authtest.MainOptions{LogTo: func(w io.Writer) {
		grpclog.SetLoggerV2(grpclog.NewLoggerV2WithVerbosity(w, w, w, grpcVerbosity))
	}}))
}

// seen is what the service saw of one call.
type seen struct {
	User      string
	Groups    []string
	Audiences []string
	// Authorization counts the authorization values left for the
	// service: a count, so a failure message cannot print a token.
	Authorization int
	// Other is metadata the client sent besides its credentials, which
	// must survive.
	Other []string
}

// health is the standard health service, reporting what each call's
// context held: a real service with a unary and a streaming method.
type health struct {
	healthpb.UnimplementedHealthServer
	mu    sync.Mutex
	calls []seen
}

func (h *health) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	h.record(ctx)
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func (h *health) Watch(_ *healthpb.HealthCheckRequest, stream grpc.ServerStreamingServer[healthpb.HealthCheckResponse]) error {
	h.record(stream.Context())
	return stream.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING})
}

func (h *health) record(ctx context.Context) {
	var s seen
	if u, ok := request.UserFrom(ctx); ok {
		s.User, s.Groups = u.GetName(), u.GetGroups()
	}
	if auds, ok := grpcauth.TokenAudiencesFrom(ctx); ok {
		s.Audiences = auds
	}
	md, _ := metadata.FromIncomingContext(ctx)
	s.Authorization, s.Other = len(md.Get("authorization")), md.Get("x-request-id")
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, s)
}

// taken returns the calls recorded since the last taken.
func (h *health) taken() []seen {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.calls
	h.calls = nil
	return c
}

var accepted = seen{
	User:      authtest.UserName,
	Groups:    []string{"edge:system:serviceaccounts", "edge:system:serviceaccounts:ns"},
	Audiences: []string{authtest.Audience},
	Other:     []string{"r-1"},
}

const (
	invalidToken = "the token is invalid, expired, revoked or not for this service"
	malformed    = "malformed authorization: "
)

var interceptorCases = []struct {
	name string
	// auth is the authorization metadata values; none when nil.
	auth        []string
	wantCode    codes.Code
	wantMsg     string
	wantChecked bool
}{
	{name: "accepted", auth: []string{"Bearer " + authtest.Good}, wantCode: codes.OK, wantChecked: true},
	{name: "scheme in lower case", auth: []string{"bearer " + authtest.Good}, wantCode: codes.OK, wantChecked: true},

	{name: "no metadata", wantCode: codes.Unauthenticated, wantMsg: "bearer token required"},
	{name: "basic credentials", auth: []string{"Basic dXNlcjpwYXNz"}, wantCode: codes.Unauthenticated, wantMsg: "bearer token required"},

	{name: "two values", auth: []string{"Bearer " + authtest.Good, "Bearer " + authtest.Rejected}, wantCode: codes.Unauthenticated, wantMsg: malformed + "more than one Authorization field"},
	{name: "bearer without token", auth: []string{"Bearer"}, wantCode: codes.Unauthenticated, wantMsg: malformed + "Bearer credentials without a token"},
	{name: "two tokens", auth: []string{"Bearer " + authtest.Good + " " + authtest.Rejected}, wantCode: codes.Unauthenticated, wantMsg: malformed + "the bearer token is not a single b64token"},
	{name: "bad character", auth: []string{"Bearer " + authtest.Good + ";"}, wantCode: codes.Unauthenticated, wantMsg: malformed + "the bearer token is not a single b64token"},

	{name: "rejected", auth: []string{"Bearer " + authtest.Rejected}, wantCode: codes.Unauthenticated, wantMsg: invalidToken, wantChecked: true},
	{name: "minted for another audience", auth: []string{"Bearer " + authtest.ForOther}, wantCode: codes.Unauthenticated, wantMsg: invalidToken, wantChecked: true},
	{name: "authenticator ignores the audiences", auth: []string{"Bearer " + authtest.Deaf}, wantCode: codes.Unauthenticated, wantMsg: invalidToken, wantChecked: true},
	{name: "authenticator names no audiences", auth: []string{"Bearer " + authtest.Unaware}, wantCode: codes.Unauthenticated, wantMsg: invalidToken, wantChecked: true},

	{name: "authenticator unavailable", auth: []string{"Bearer " + authtest.Outage}, wantCode: codes.Unavailable, wantMsg: "authentication is temporarily unavailable", wantChecked: true},
	{name: "authenticator names no user", auth: []string{"Bearer " + authtest.NoUser}, wantCode: codes.Internal, wantMsg: "internal error", wantChecked: true},
}

// call is one way of calling the service: unary or streaming.
type call struct {
	name string
	do   func(context.Context, healthpb.HealthClient) error
}

var calls = []call{
	{"unary", func(ctx context.Context, c healthpb.HealthClient) error {
		_, err := c.Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}},
	{"stream", func(ctx context.Context, c healthpb.HealthClient) error {
		s, err := c.Watch(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			return err
		}
		_, err = s.Recv()
		return err
	}},
}

// TestInterceptors calls a real gRPC server over TLS on a TCP listener
// with a real client, unary and streaming, for every case.
func TestInterceptors(t *testing.T) {
	auth := &authtest.Authenticator{}
	icpt, err := grpcauth.New(grpcauth.Options{Authenticator: auth, Audiences: []string{authtest.Audience, "https://orders.internal"}})
	if err != nil {
		t.Fatal(err)
	}
	svc := &health{}
	client := startServer(t, svc, grpc.UnaryInterceptor(icpt.Unary), grpc.StreamInterceptor(icpt.Stream))
	for _, c := range calls {
		for _, tc := range interceptorCases {
			t.Run(c.name+"/"+tc.name, func(t *testing.T) {
				checked := auth.Calls()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				md := metadata.Pairs("x-request-id", "r-1")
				for _, v := range tc.auth {
					md.Append("authorization", v)
				}
				err := c.do(metadata.NewOutgoingContext(ctx, md), client)
				st := status.Convert(err)
				if st.Code() != tc.wantCode || st.Message() != tc.wantMsg {
					t.Fatalf("got %s %q, want %s %q", st.Code(), st.Message(), tc.wantCode, tc.wantMsg)
				}
				noTokenIn(t, st)
				if got := auth.Calls() - checked; got != map[bool]int64{true: 1}[tc.wantChecked] {
					t.Errorf("got %d authenticator calls, want checked=%v", got, tc.wantChecked)
				}
				var want []seen
				if tc.wantCode == codes.OK {
					want = []seen{accepted}
				}
				if d := cmp.Diff(want, svc.taken()); d != "" {
					t.Errorf("the service saw (-want +got):\n%s", d)
				}
			})
		}
	}
}

func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts grpcauth.Options
		want string
	}{
		{"no authenticator", grpcauth.Options{Audiences: []string{authtest.Audience}}, "authenticator is required"},
		{"no audiences", grpcauth.Options{Authenticator: &authtest.Authenticator{}}, "audiences are required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i, err := grpcauth.New(tc.opts)
			if i != nil || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, %v; want no interceptor and an error containing %q", i, err, tc.want)
			}
		})
	}
}

// startServer serves svc over TLS with the development certificates on a
// loopback port and returns a client of it.
func startServer(t *testing.T, svc healthpb.HealthServer, opts ...grpc.ServerOption) healthpb.HealthClient {
	t.Helper()
	certs, err := devcerts.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	serverCreds, err := credentials.NewServerTLSFromFile(certs.ServingCert, certs.ServingKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(append(opts, grpc.Creds(serverCreds))...)
	healthpb.RegisterHealthServer(srv, svc)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	clientCreds, err := credentials.NewClientTLSFromFile(certs.CACert, "")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(clientCreds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return healthpb.NewHealthClient(conn)
}

// noTokenIn fails if any known token, or any of its segments, is in the
// status.
func noTokenIn(t *testing.T, st *status.Status) {
	t.Helper()
	// The whole status as sent: code, message and details.
	text := fmt.Sprint(st.Proto())
	for i, tok := range authtest.Tokens {
		for _, seg := range strings.Split(tok, ".") {
			if len(seg) >= 8 && strings.Contains(text, seg) {
				t.Errorf("the status contains part of test token #%d", i+1)
			}
		}
	}
}
