package grpcauth_test

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/tokenfed/tokenfed/pkg/client"
	"github.com/tokenfed/tokenfed/pkg/client/grpcauth"
	"github.com/tokenfed/tokenfed/pkg/client/internal/authtest"
)

// TestAcceptedWithoutANameIsInternal: as httpauth's, for gRPC: a token
// accepted with a user that has no name (or no user at all) is
// codes.Internal, a bug in the authenticator, and the handler does not
// run as user "".
func TestAcceptedWithoutANameIsInternal(t *testing.T) {
	for name, u := range map[string]user.Info{
		"empty name": &user.DefaultInfo{Groups: []string{"admins"}},
		"nil user":   (*user.DefaultInfo)(nil),
		"anonymous":  &user.DefaultInfo{Name: user.Anonymous},
	} {
		auth := authenticator.TokenFunc(func(ctx context.Context, _ string) (*authenticator.Response, bool, error) {
			auds, _ := authenticator.AudiencesFrom(ctx)
			return &authenticator.Response{User: u, Audiences: auds}, true, nil
		})
		i, err := grpcauth.New(grpcauth.Options{Authenticator: auth, Audiences: []string{"https://orders.example"}})
		if err != nil {
			t.Fatal(err)
		}
		ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer some-opaque-token-for-the-test"))
		ran := false

		_, err = i.Unary(ctx, nil, &grpc.UnaryServerInfo{}, func(context.Context, any) (any, error) { ran = true; return nil, nil })

		if ran || status.Code(err) != codes.Internal {
			t.Errorf("%s: got %v, handler ran: %v; want codes.Internal and no handler", name, err, ran)
		}
	}
}

// callWithTrailer calls Check with token and returns the status and the
// grpc-retry-pushback-ms trailer.
func callWithTrailer(t *testing.T, c healthpb.HealthClient, token string) (*status.Status, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var trailer metadata.MD
	_, err := c.Check(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token), &healthpb.HealthCheckRequest{}, grpc.Trailer(&trailer))
	return status.Convert(err), trailer.Get("grpc-retry-pushback-ms")
}

// TestCallerRefusedPushesBack: when tokenfed refuses the app (its client's
// CallerRefusedError, a 429 with Retry-After 60), the call is Unavailable,
// and the grpc-retry-pushback-ms trailer tells a client with a retry
// policy to wait tokenfed's 60 s.
func TestCallerRefusedPushesBack(t *testing.T) {
	auth := authenticator.TokenFunc(func(context.Context, string) (*authenticator.Response, bool, error) {
		return nil, false, &client.CallerRefusedError{Code: 429, RetryAfter: time.Minute, Message: "this caller is over its rate limit"}
	})
	i, err := grpcauth.New(grpcauth.Options{Authenticator: auth, Audiences: []string{authtest.Audience}})
	if err != nil {
		t.Fatal(err)
	}
	c := startServer(t, &health{}, grpc.UnaryInterceptor(i.Unary))

	st, pushback := callWithTrailer(t, c, authtest.Good)

	if st.Code() != codes.Unavailable || len(pushback) != 1 || pushback[0] != "60000" {
		t.Fatalf("got %s with pushback %q, want Unavailable with pushback 60000", st.Code(), pushback)
	}
}

// TestClientLimit: a client whose tokens are refused Burst times gets
// ResourceExhausted, with a pushback, and its token is not checked.
func TestClientLimit(t *testing.T) {
	auth := &authtest.Authenticator{}
	i, err := grpcauth.New(grpcauth.Options{Authenticator: auth, Audiences: []string{authtest.Audience}, ClientLimit: &grpcauth.ClientLimit{Rate: 0.01, Burst: 2}})
	if err != nil {
		t.Fatal(err)
	}
	svc := &health{}
	c := startServer(t, svc, grpc.UnaryInterceptor(i.Unary))

	for n := range 2 {
		if st, _ := callWithTrailer(t, c, authtest.Rejected); st.Code() != codes.Unauthenticated {
			t.Fatalf("refused token %d: got %s, want Unauthenticated", n+1, st.Code())
		}
	}
	checked := auth.Calls()
	st, pushback := callWithTrailer(t, c, authtest.Good)

	if st.Code() != codes.ResourceExhausted || len(pushback) != 1 {
		t.Fatalf("after Burst refused tokens: got %s %q with pushback %q, want ResourceExhausted with a pushback", st.Code(), st.Message(), pushback)
	}
	if got := auth.Calls() - checked; got != 0 {
		t.Errorf("got %d tokens checked for a client over its limit, want 0", got)
	}
	noTokenIn(t, st)
	if calls := svc.taken(); len(calls) != 0 {
		t.Errorf("got %d calls served, want 0", len(calls))
	}
}

// TestPeerIP: the default key is the peer's IP address, an IPv6 one cut
// to its /64.
func TestPeerIP(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{nil, ""},
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 443}, "192.0.2.7"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 443}, "2001:db8:1:2::/64"},
		{&net.UnixAddr{Name: "/run/app.sock", Net: "unix"}, "/run/app.sock"},
	} {
		ctx := context.Background()
		if tc.addr != nil {
			ctx = peer.NewContext(ctx, &peer.Peer{Addr: tc.addr})
		}
		if got := grpcauth.PeerIP(ctx); got != tc.want {
			t.Errorf("peer %v: got %q, want %q", tc.addr, got, tc.want)
		}
	}
}
