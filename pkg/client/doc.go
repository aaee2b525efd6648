// Package client asks tokenfed about a token: who it belongs to, and for
// which audiences it is valid. Applications use it directly (Review), or
// through anything that takes k8s.io/apiserver's authenticator.Token
// (AuthenticateToken), such as the net/http and gRPC middleware. The
// `tokenfed review` command is built on it.
//
//	c, err := client.New(client.InClusterConfig())
//	...
//	res, err := c.Review(ctx, token, "https://api.shop.example")
//	switch {
//	case err == nil:
//		// res.User.GetName() is e.g. hub:system:serviceaccount:devices:device-1
//	case errors.Is(err, client.ErrNotAuthenticated):
//		// 401 to the end user
//	case errors.Is(err, client.ErrCallerRefused), errors.Is(err, client.ErrUnavailable):
//		// 503 to the end user: nothing is known about the token
//	}
//
// It is built on client-go: kubeconfig loading (clientcmd), rest.Config
// and the HTTP client it builds (TLS, caller credentials, proxy), and the
// typed authentication.k8s.io/v1 TokenReview; the request itself is the
// client's own (see Secrecy).
// A review is posted to exactly the URL configured, as kube-apiserver's
// webhook client does, or to the TokenReview path of a URL without one:
// tokenfed serves both.
//
// Where tokenfed is comes from a webhook kubeconfig (Config.Kubeconfig), a
// plain Config, or InClusterConfig (environment variables with defaults).
// The application proves who it is to tokenfed with a client certificate,
// or with its own projected service-account token, which is re-read the
// moment the kubelet replaces it (see Config.TokenFile).
//
// Secrecy: no error, result or log line holds the token. The client posts
// each review and reads its answer itself, through the http.Client
// client-go builds, so client-go never has a body to log, whatever klog's
// contextual logging and verbosity are; every request also carries a
// discarding logger. Text of the server's that could quote the token is
// withheld (pkg/redact), and an answer whose user or audiences quote it is
// refused. Answers that are cached are keyed by an HMAC of audiences and
// token with a random key of the process, never the token.
//
// Every review is charged to the application's caller rate at tokenfed.
// Tokens no tokenfed accepts are refused without asking, and the optional
// cache keeps rejections for a few seconds; an application in front of
// untrusted clients should still rate-limit each client before the
// middleware (see docs/client.md).
package client
