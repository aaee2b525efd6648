// Package server runs tokenfed's HTTPS listener: TLS with a serving
// certificate reloaded from disk, optional client-certificate callers,
// routes, health and metrics, and a graceful shutdown in which in-flight
// reviews complete.
package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"k8s.io/klog/v2"
)

// Options configure the listener.
type Options struct {
	BindAddress string
	Port        int32
	// CertFile and KeyFile are watched, and polled every CertReloadInterval
	// (zero: watched only): cert-manager and the kubelet swap them in place
	// when the certificate is renewed.
	CertFile, KeyFile  string
	CertReloadInterval time.Duration

	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// ShutdownGracePeriod bounds how long in-flight requests may finish.
	ShutdownGracePeriod time.Duration

	// MaxConnections bounds the connections open at once; past it the one
	// idle the longest is closed for a new one, and when none is idle new
	// ones wait in the kernel's accept queue (boundedListener). 0: no
	// bound.
	MaxConnections int
	// MaxConcurrentStreams bounds the streams of one HTTP/2 connection;
	// 0: x/net's default, 250.
	MaxConcurrentStreams int
	// MaxRequestsInFlight bounds the requests served at once, over all
	// connections (see limitInFlight). 0: no bound.
	MaxRequestsInFlight int
}

// Server is a configured, not yet running, HTTPS server.
type Server struct {
	opts    Options
	handler http.Handler
	certs   *servingCert
	metrics *Metrics
}

// New returns a server for handler. m may be nil.
func New(opts Options, handler http.Handler, m *Metrics) *Server {
	return &Server{
		opts:    opts,
		handler: limitInFlight(handler, opts.MaxRequestsInFlight, m),
		certs:   newServingCert(opts.CertFile, opts.KeyFile, opts.CertReloadInterval),
		metrics: m,
	}
}

// CertificateLoaded reports whether a serving certificate is available; it
// backs a readiness check. Once one loaded it stays available: a renewal
// that does not load leaves the last good pair in service.
func (s *Server) CertificateLoaded() bool { return s.certs.loaded() }

// Run serves until ctx is done, then shuts down gracefully. It returns an
// error if the listener cannot start or the certificate does not load
// within firstLoadTimeout.
func (s *Server) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	if err := s.certs.load(ctx); err != nil {
		return err
	}
	// Reloads continue through the graceful shutdown, which outlasts ctx.
	certCtx, stopCerts := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCerts()
	s.certs.watch(certCtx)
	conns := &connTracker{metrics: s.metrics}
	ln, err := s.listen(conns)
	if err != nil {
		return err
	}
	srv := s.httpServer(logger, conns)
	goAway, err := configureHTTP2(srv, s.opts.MaxConcurrentStreams, conns)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("configuring HTTP/2: %w", err)
	}
	errCh := make(chan error, 1)
	go func() { errCh <- srv.ServeTLS(ln, "", "") }()
	logger.Info("serving", "address", ln.Addr().String(), "maxConnections", s.opts.MaxConnections,
		"maxConcurrentStreams", s.opts.MaxConcurrentStreams, "maxRequestsInFlight", s.opts.MaxRequestsInFlight)
	select {
	case err := <-errCh:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	return s.shutdown(srv, ln, conns, goAway, logger)
}

// listen opens the TCP listener, bounded to MaxConnections open
// connections: each costs goroutines and buffers. Past the bound the
// connection idle the longest makes room, and when none is idle a client
// waits to be accepted rather than tokenfed running out of memory
// (boundedListener).
func (s *Server) listen(conns *connTracker) (net.Listener, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(s.opts.BindAddress, strconv.Itoa(int(s.opts.Port))))
	if err != nil {
		return nil, fmt.Errorf("listening: %w", err)
	}
	if s.opts.MaxConnections > 0 {
		ln = newBoundedListener(ln, s.opts.MaxConnections, conns.evictIdle)
	}
	return ln, nil
}

// shutdown drains before it shuts down. http.Server.Shutdown drops any
// request it reads after shutdown began, even on a connection it had
// already accepted; so first the listener closes (no new connections),
// keep-alives stop (every HTTP/1 answer says Connection: close and idle
// connections close), every HTTP/2 connection gets GOAWAY (its streams
// finish, and its client sends new requests elsewhere), and the
// connections already accepted finish their requests. Shutdown then only
// has stragglers left to wait for.
func (s *Server) shutdown(srv *http.Server, ln net.Listener, conns *connTracker, goAway func(), logger klog.Logger) error {
	logger.Info("shutting down, finishing accepted requests", "gracePeriod", s.opts.ShutdownGracePeriod)
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownGracePeriod)
	defer cancel()
	_ = ln.Close() // Serve returns; accepted connections keep being served.
	srv.SetKeepAlivesEnabled(false)
	goAway()
	conns.waitIdle(ctx)
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	logger.Info("shut down cleanly")
	return nil
}

func (s *Server) httpServer(logger klog.Logger, conns *connTracker) *http.Server {
	return &http.Server{
		ConnState:         conns.track,
		ConnContext:       connContext,
		Handler:           conns.countRequests(s.handler),
		TLSConfig:         s.tlsConfig(),
		ReadTimeout:       s.opts.ReadTimeout,
		ReadHeaderTimeout: s.opts.ReadTimeout,
		WriteTimeout:      s.opts.WriteTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          klog.NewStandardLogger("INFO"),
		BaseContext:       func(net.Listener) context.Context { return klog.NewContext(context.Background(), logger) },
	}
}

// tlsConfig requests, but does not require, a client certificate: the
// callers package verifies it on each request against a CA that may change
// at runtime (answering 401 for one it does not trust, as kube-apiserver
// does), and health probes need no certificate.
func (s *Server) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: s.certs.GetCertificate,
		ClientAuth:     tls.RequestClientCert,
	}
}
