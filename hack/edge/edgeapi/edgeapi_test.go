package edgeapi

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
)

const (
	audience    = "https://edge.example"
	deviceToken = "device.ZGV2aWNlLTE.c2ln"
	otherToken  = "other.b3RoZXI.c2ln"
	outageToken = "outage.b3V0YWdl.c2ln"
	wantUser    = "hub:system:serviceaccount:devices:device-1"
	wantIssuer  = "hub"
)

// fakeTokenfed answers as tokenfed's client does: deviceToken is valid for
// audience, otherToken (minted for another service) is not, outageToken
// is an error.
var fakeTokenfed = authenticator.TokenFunc(func(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	asked, _ := authenticator.AudiencesFrom(ctx)
	switch {
	case token == outageToken:
		return nil, false, errors.New("tokenfed is unavailable")
	case token == deviceToken && asked.Has(audience):
		u := &user.DefaultInfo{Name: wantUser, Groups: []string{"hub:system:serviceaccounts"},
			Extra: map[string][]string{"tokenfed.io/issuer": {wantIssuer}}}
		return &authenticator.Response{User: u, Audiences: authenticator.Audiences{audience}}, true, nil
	default: // otherToken among them: minted for another service
		return nil, false, nil
	}
})

func newTestServer(t *testing.T) *Server {
	t.Helper()
	s, err := New(Options{Authenticator: fakeTokenfed, Audiences: []string{audience}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewRefusesIncompleteOptions(t *testing.T) {
	for _, opts := range []Options{
		{Audiences: []string{audience}},
		{Authenticator: fakeTokenfed},
	} {
		if _, err := New(opts); err == nil {
			t.Errorf("New(%+v): got no error, want one", opts)
		}
	}
}

func TestHTTP(t *testing.T) {
	srv := httptest.NewServer(newTestServer(t).Handler())
	defer srv.Close()
	for _, tc := range []struct {
		name, path, token string
		wantCode          int
		wantChallenge     string
	}{
		{name: "device", path: WhoAmIPath, token: deviceToken, wantCode: http.StatusOK},
		{name: "another audience", path: WhoAmIPath, token: otherToken, wantCode: http.StatusUnauthorized,
			wantChallenge: `Bearer realm="edge", error="invalid_token", error_description="the token is invalid, expired, revoked or not for this service"`},
		{name: "no token", path: WhoAmIPath, wantCode: http.StatusUnauthorized, wantChallenge: `Bearer realm="edge"`},
		{name: "tokenfed unavailable", path: WhoAmIPath, token: outageToken, wantCode: http.StatusServiceUnavailable},
		{name: "healthz needs no token", path: HealthzPath, wantCode: http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := get(t, srv.URL+tc.path, tc.token)
			defer resp.Body.Close()
			if resp.StatusCode != tc.wantCode {
				t.Fatalf("got %d, want %d", resp.StatusCode, tc.wantCode)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != tc.wantChallenge {
				t.Errorf("got WWW-Authenticate %q, want %q", got, tc.wantChallenge)
			}
			if tc.path != WhoAmIPath || tc.wantCode != http.StatusOK {
				return
			}
			var id Identity
			if err := json.NewDecoder(resp.Body).Decode(&id); err != nil {
				t.Fatal(err)
			}
			wantIdentity(t, id)
		})
	}
}

func get(t *testing.T, url, token string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func wantIdentity(t *testing.T, id Identity) {
	t.Helper()
	if id.User != wantUser || id.Issuer != wantIssuer || !slices.Equal(id.Audiences, []string{audience}) ||
		!slices.Equal(id.Groups, []string{"hub:system:serviceaccounts"}) {
		t.Errorf("got identity %+v, want user %q, issuer %q, audiences [%s]", id, wantUser, wantIssuer, audience)
	}
}

// TestGRPC: both methods, so both interceptors. The transport is insecure
// here; the device test runs over TLS.
func TestGRPC(t *testing.T) {
	conn := startGRPC(t, newTestServer(t))
	for _, tc := range []struct {
		name, token string
		want        codes.Code
	}{
		{"device", deviceToken, codes.OK},
		{"another audience", otherToken, codes.Unauthenticated},
		{"no token", "", codes.Unauthenticated},
		{"tokenfed unavailable", outageToken, codes.Unavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			if tc.token != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tc.token)
			}
			unary := &structpb.Struct{}
			err := conn.Invoke(ctx, WhoAmIMethod, &emptypb.Empty{}, unary)
			streamed, serr := whoAmIStream(ctx, conn)
			for _, c := range []struct {
				method string
				err    error
				answer *structpb.Struct
			}{{"unary", err, unary}, {"stream", serr, streamed}} {
				if got := status.Code(c.err); got != tc.want {
					t.Fatalf("%s: got %v (%v), want %v", c.method, got, c.err, tc.want)
				}
				if tc.want != codes.OK {
					continue
				}
				id, err := IdentityFromStruct(c.answer)
				if err != nil {
					t.Fatal(err)
				}
				wantIdentity(t, id)
			}
		})
	}
}

func startGRPC(t *testing.T, s *Server) *grpc.ClientConn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := s.GRPCServer()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func whoAmIStream(ctx context.Context, conn *grpc.ClientConn) (*structpb.Struct, error) {
	stream, err := conn.NewStream(ctx, &WhoAmIStreamDesc, WhoAmIStreamMethod)
	if err != nil {
		return nil, err
	}
	if err := stream.SendMsg(&emptypb.Empty{}); err != nil {
		return nil, err
	}
	if err := stream.CloseSend(); err != nil {
		return nil, err
	}
	answer := &structpb.Struct{}
	return answer, stream.RecvMsg(answer)
}

func TestIdentityStructRoundTrip(t *testing.T) {
	in := Identity{User: wantUser, UID: "u-1", Groups: []string{"a", "b"}, Issuer: wantIssuer, Audiences: []string{audience}}
	s, err := in.Struct()
	if err != nil {
		t.Fatal(err)
	}
	out, err := IdentityFromStruct(s)
	if err != nil {
		t.Fatal(err)
	}
	if out.User != in.User || out.UID != in.UID || out.Issuer != in.Issuer || !slices.Equal(out.Groups, in.Groups) || !slices.Equal(out.Audiences, in.Audiences) {
		t.Errorf("got %+v, want %+v", out, in)
	}
}
