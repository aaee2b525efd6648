package server

import (
	"context"
	"crypto/tls"
	"net/http"

	"golang.org/x/net/http2"
)

// configureHTTP2 serves HTTP/2 on srv with golang.org/x/net/http2, at
// most maxStreams streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS;
// 0 keeps x/net's default, 250), and returns a function that sends GOAWAY
// to every HTTP/2 connection srv serves.
//
// GOAWAY is what lets a client move to another replica without failing a
// request: streams the server already took finish, and a client retries
// the ones it sent after on a new connection (Go's HTTP/2 transport, so
// client-go and kube-apiserver's webhook client, do it by themselves). The
// standard library sends GOAWAY only from http.Server.Shutdown, which
// tokenfed calls last (see Server.shutdown); and with keep-alives disabled
// it sends it only once a connection has no stream left, which a
// connection under load may never reach. So the HTTP/2 server is
// configured on a second http.Server that serves nothing, whose only use
// is that its Shutdown runs x/net's graceful shutdown of every connection
// at once, and srv takes its TLSNextProto.
func configureHTTP2(srv *http.Server, maxStreams int, conns *connTracker) (goAway func(), err error) {
	hooks := &http.Server{TLSConfig: srv.TLSConfig}
	h2 := &http2.Server{MaxConcurrentStreams: uint32(max(0, maxStreams)), IdleTimeout: srv.IdleTimeout}
	if err := http2.ConfigureServer(hooks, h2); err != nil {
		return nil, err
	}
	serve := hooks.TLSNextProto[http2.NextProtoTLS]
	srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){
		http2.NextProtoTLS: func(hs *http.Server, c *tls.Conn, h http.Handler) {
			conns.markHTTP2(c)
			serve(hs, c, h)
		},
	}
	// hooks has no listener and no connection: Shutdown runs the hook
	// (asynchronously, as net/http runs them all) and returns.
	return func() { _ = hooks.Shutdown(context.Background()) }, nil
}
