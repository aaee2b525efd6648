package edgeapi

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// The gRPC service, in protobuf's terms:
//
//	service Edge {
//	  rpc WhoAmI(google.protobuf.Empty) returns (google.protobuf.Struct);
//	  rpc WhoAmIStream(google.protobuf.Empty) returns (stream google.protobuf.Struct);
//	}
//
// It is registered by hand with a grpc.ServiceDesc, as protoc-gen-go-grpc
// would generate it, and its messages are well-known types that the
// protobuf module already ships: the story needs no protoc. WhoAmIStream
// sends the same answer once, on a server stream, so that the stream
// interceptor guards a real streaming method too.
const (
	ServiceName        = "tokenfed.edge.v1.Edge"
	WhoAmIMethod       = "/" + ServiceName + "/WhoAmI"
	WhoAmIStreamMethod = "/" + ServiceName + "/WhoAmIStream"
)

// WhoAmIStreamDesc is what a client passes to grpc.ClientConn.NewStream.
var WhoAmIStreamDesc = grpc.StreamDesc{StreamName: "WhoAmIStream", ServerStreams: true}

// edgeServer is the service's interface, as protoc-gen-go-grpc names it.
type edgeServer interface {
	WhoAmI(ctx context.Context) (*structpb.Struct, error)
	WhoAmIStream(stream grpc.ServerStream) error
}

var serviceDesc = grpc.ServiceDesc{
	ServiceName: ServiceName,
	HandlerType: (*edgeServer)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "WhoAmI", Handler: whoAmIHandler}},
	Streams: []grpc.StreamDesc{{
		StreamName: WhoAmIStreamDesc.StreamName, ServerStreams: true, Handler: whoAmIStreamHandler,
	}},
	Metadata: "hack/edge/edgeapi/service.go",
}

func whoAmIHandler(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
	in := &emptypb.Empty{}
	if err := dec(in); err != nil {
		return nil, err
	}
	handler := func(ctx context.Context, _ any) (any, error) { return srv.(edgeServer).WhoAmI(ctx) }
	if icpt == nil {
		return handler(ctx, in)
	}
	return icpt(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: WhoAmIMethod}, handler)
}

// whoAmIStreamHandler runs inside the stream interceptor: gRPC wraps
// every stream handler of a service in it.
func whoAmIStreamHandler(srv any, stream grpc.ServerStream) error {
	if err := stream.RecvMsg(&emptypb.Empty{}); err != nil {
		return err
	}
	return srv.(edgeServer).WhoAmIStream(stream)
}

// edgeService implements edgeServer: it answers who the caller is, from
// what grpcauth put in the context.
type edgeService struct{}

func (edgeService) WhoAmI(ctx context.Context) (*structpb.Struct, error) {
	id, err := identityFrom(ctx)
	if err != nil {
		return nil, status.Error(codes.Internal, "internal error")
	}
	return id.Struct()
}

func (s edgeService) WhoAmIStream(stream grpc.ServerStream) error {
	answer, err := s.WhoAmI(stream.Context())
	if err != nil {
		return err
	}
	return stream.SendMsg(answer)
}
