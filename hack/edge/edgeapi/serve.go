package edgeapi

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// readHeaderTimeout bounds how long a client may take to send its request
// headers, so that idle connections cannot pile up.
const readHeaderTimeout = 10 * time.Second

// Serve serves Handler over HTTPS on httpLn and the gRPC service over TLS
// on grpcLn, both with tlsConfig (its Certificates or GetCertificate),
// until ctx ends or one of them fails; then it stops both. It returns nil
// after ctx ends.
func (s *Server) Serve(ctx context.Context, httpLn, grpcLn net.Listener, tlsConfig *tls.Config) error {
	hs := &http.Server{Handler: s.Handler(), TLSConfig: tlsConfig.Clone(), ReadHeaderTimeout: readHeaderTimeout}
	gs := s.GRPCServer(grpc.Creds(credentials.NewTLS(tlsConfig.Clone())))
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := hs.ServeTLS(httpLn, "", ""); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error { return gs.Serve(grpcLn) })
	g.Go(func() error {
		<-ctx.Done()
		gs.Stop()
		return hs.Close()
	})
	return g.Wait()
}
