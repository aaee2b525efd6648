package client

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Defaults.
const (
	// DefaultTimeout bounds one Review, retries included, when the
	// context has no earlier deadline.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxRetries is how often one Review is retried after a 502,
	// 503, 504 or a connection failure.
	DefaultMaxRetries = 3
	// DefaultCacheTTL is how long an authenticated answer is reused when
	// the cache is on, capped at the token's exp.
	DefaultCacheTTL = 10 * time.Second
	// DefaultCacheFailureTTL is how long a not-authenticated answer is
	// reused when the cache is on.
	DefaultCacheFailureTTL = 5 * time.Second

	// ReviewPath is where a review goes when the server URL has no path:
	// the path kube-apiserver serves TokenReview on, which tokenfed serves
	// too.
	ReviewPath = "/apis/authentication.k8s.io/v1/tokenreviews"
)

// In-cluster defaults: see InClusterConfig.
const (
	EnvServer          = "TOKENFED_SERVER"
	EnvCAFile          = "TOKENFED_CA_FILE"
	EnvTokenFile       = "TOKENFED_TOKEN_FILE"
	EnvClientCertFile  = "TOKENFED_CLIENT_CERT_FILE"
	EnvClientKeyFile   = "TOKENFED_CLIENT_KEY_FILE"
	DefaultServer      = "https://tokenfed.tokenfed-system.svc" + ReviewPath
	DefaultCAFile      = "/var/run/secrets/tokenfed/ca.crt"
	DefaultTokenFile   = "/var/run/secrets/tokenfed/token"
	defaultUserAgent   = "tokenfed-client"
	defaultBackoffBase = 100 * time.Millisecond
)

// Config says where tokenfed is and how this application proves who it
// is. Set either Kubeconfig, or Server and the files; a Config with both is
// refused. The zero values of the other fields mean their defaults.
type Config struct {
	// Kubeconfig is a kubeconfig in the format of kube-apiserver's
	// --authentication-token-webhook-config-file: the current context's
	// cluster has the full URL reviews are posted to in server (e.g.
	// https://tokenfed.tokenfed-system.svc/authenticate), the CA, and
	// optionally tls-server-name and proxy-url; its user has a client
	// certificate and key, a token, or a tokenFile (re-read when it
	// changes, see TokenFile). New refuses insecure-skip-tls-verify, and a
	// user with exec, auth-provider, username or password, or
	// impersonation (as, as-uid, as-groups, as-user-extra).
	Kubeconfig string

	// Server is the URL reviews are posted to, https only. With a path
	// (https://host:8443/authenticate) exactly that URL, as
	// kube-apiserver's webhook client does; without one, ReviewPath on it.
	Server string
	// CAFile is the PEM bundle tokenfed's serving certificate must chain
	// to. Empty: the system roots.
	CAFile string
	// TLSServerName is the name tokenfed's certificate must hold, when the
	// Server URL names it otherwise (e.g. by its ClusterIP).
	TLSServerName string
	// ClientCertFile and ClientKeyFile are this application's caller
	// certificate (CN = its caller name), read once by New.
	ClientCertFile, ClientKeyFile string
	// TokenFile holds this application's own token, minted for tokenfed
	// (a projected service-account token with audience "tokenfed", see
	// docs/callers.md). It is checked on every request and re-read as soon
	// as it changes (rename, the kubelet's symlink swap, a rewrite).
	TokenFile string

	// Timeout bounds one Review, retries included, when the context has no
	// earlier deadline. Default DefaultTimeout (10s).
	Timeout time.Duration
	// MaxRetries is how many times one Review is retried after a 502, 503,
	// 504 or a connection failure, each after the answer's Retry-After or
	// else a backoff from 100ms doubling, and only while the wait ends
	// before the deadline. 401, 403, 429 and 500 are never retried. Zero
	// means DefaultMaxRetries (3); negative, none.
	MaxRetries int
	// Cache keeps authenticated answers in memory. Off by default.
	Cache CacheConfig
}

// CacheConfig configures the optional cache of answers. An authenticated
// answer is reused for the same token and audiences (in the same order)
// until TTL passes or the token's exp (read from a JWT's payload once
// tokenfed has authenticated it), whichever is first; an opaque token gets
// TTL alone. A not-authenticated answer is reused for FailureTTL, so that a
// token sent again and again (by a client of the application, say) costs
// one review per FailureTTL, not one per request. Errors (tokenfed
// unavailable, this caller refused) and tokens refused without asking are
// never cached. A cached answer outlives a revocation, and a cached
// rejection a token that becomes valid: keep both TTLs short.
type CacheConfig struct {
	// MaxEntries bounds the authenticated answers. The bound is kept in 32
	// shards of MaxEntries/32 entries each (at least 1), each evicting its
	// least recently used. Not-authenticated answers have a quarter as many
	// more entries, in a segment of each shard of their own: they evict
	// only each other, never an authenticated answer. Zero turns the cache
	// off, the default.
	MaxEntries int
	// TTL is the longest an authenticated answer is reused. Default
	// DefaultCacheTTL (10s).
	TTL time.Duration
	// FailureTTL is how long a not-authenticated answer is reused. Zero
	// means DefaultCacheFailureTTL (5s); negative, they are not cached.
	FailureTTL time.Duration
}

// InClusterConfig is the Config of an application that runs in a pod of
// the cluster tokenfed runs in, from these environment variables (an
// unset variable takes its default; set to "", it turns the setting off):
//
//	TOKENFED_SERVER            https://tokenfed.tokenfed-system.svc/apis/authentication.k8s.io/v1/tokenreviews
//	                           (Service tokenfed in namespace tokenfed-system, config/manager)
//	TOKENFED_CA_FILE           /var/run/secrets/tokenfed/ca.crt (tokenfed's CA, e.g. from a ConfigMap)
//	TOKENFED_TOKEN_FILE        /var/run/secrets/tokenfed/token (a projected service-account
//	                           token with audience "tokenfed", callers.tokens.audiences)
//	TOKENFED_CLIENT_CERT_FILE  none
//	TOKENFED_CLIENT_KEY_FILE   none
//
// See docs/client.md for the pod's volume.
func InClusterConfig() Config {
	return Config{
		Server:         envOr(EnvServer, DefaultServer),
		CAFile:         envOr(EnvCAFile, DefaultCAFile),
		TokenFile:      envOr(EnvTokenFile, DefaultTokenFile),
		ClientCertFile: os.Getenv(EnvClientCertFile),
		ClientKeyFile:  os.Getenv(EnvClientKeyFile),
	}
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func (cfg Config) withDefaults() Config {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = DefaultMaxRetries
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	if cfg.Cache.TTL <= 0 {
		cfg.Cache.TTL = DefaultCacheTTL
	}
	switch {
	case cfg.Cache.FailureTTL == 0:
		cfg.Cache.FailureTTL = DefaultCacheFailureTTL
	case cfg.Cache.FailureTTL < 0:
		cfg.Cache.FailureTTL = 0
	}
	return cfg
}

// restConfig is the connection as client-go's rest.Config, and the caller
// token file, which the client reads itself (see fileTokenSource).
func (cfg Config) restConfig() (*rest.Config, string, error) {
	if cfg.Kubeconfig == "" {
		if cfg.Server == "" {
			return nil, "", errors.New("no tokenfed server: set Server or Kubeconfig")
		}
		// client-go drops half a pair without a word, and every review
		// would then be refused as a caller without a credential.
		if (cfg.ClientCertFile == "") != (cfg.ClientKeyFile == "") {
			return nil, "", errors.New("a client certificate and its key must be set together (ClientCertFile and ClientKeyFile)")
		}
		return &rest.Config{
			Host: cfg.Server,
			TLSClientConfig: rest.TLSClientConfig{
				CAFile: cfg.CAFile, ServerName: cfg.TLSServerName,
				CertFile: cfg.ClientCertFile, KeyFile: cfg.ClientKeyFile,
			},
		}, cfg.TokenFile, nil
	}
	if cfg.Server != "" || cfg.CAFile != "" || cfg.TLSServerName != "" || cfg.ClientCertFile != "" || cfg.ClientKeyFile != "" || cfg.TokenFile != "" {
		return nil, "", errors.New("a kubeconfig and connection settings (server, CA, client certificate, token file) exclude each other")
	}
	rc, err := loadKubeconfig(cfg.Kubeconfig)
	if err == nil {
		err = checkKubeconfig(rc)
	}
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig %s: %w", cfg.Kubeconfig, err)
	}
	// clientcmd has read tokenFile into BearerToken, and client-go would
	// re-read it at most once a minute: the client re-reads it itself.
	tokenFile := rc.BearerTokenFile
	if tokenFile != "" {
		rc.BearerToken, rc.BearerTokenFile = "", ""
	}
	return rc, tokenFile, nil
}

// loadKubeconfig loads exactly the file, with relative paths resolved
// against it, as kube-apiserver's webhook.LoadKubeconfig does. Unlike it,
// an empty file is an error rather than a fall back to the in-cluster
// config, which would send reviews (and this pod's token) to the
// kube-apiserver.
func loadKubeconfig(path string) (*rest.Config, error) {
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: path}
	raw, err := rules.Load()
	if err != nil {
		return nil, err
	}
	return clientcmd.NewNonInteractiveClientConfig(*raw, raw.CurrentContext, &clientcmd.ConfigOverrides{}, rules).ClientConfig()
}

// checkKubeconfig refuses what a kubeconfig can say and a plain Config
// cannot, where it would send the token to a server nobody verified or run
// or send something nobody meant for tokenfed:
//   - insecure-skip-tls-verify: every token would go to whoever answers
//     the TLS handshake.
//   - exec and auth-provider: they run a command, or a plugin's refresh,
//     with the application's privileges and environment, on the first
//     review.
//   - username and password: basic auth, which tokenfed does not read.
//   - as, as-uid, as-groups, as-user-extra: impersonation headers, which
//     tokenfed does not honour; nothing should ask it to.
//
// What remains: server, the CA, tls-server-name, proxy-url (TLS is end to
// end through the proxy's CONNECT tunnel: the proxy sees tokenfed's name,
// never a token), the client certificate and key, token and tokenFile.
func checkKubeconfig(rc *rest.Config) error {
	if rc.Insecure {
		return errors.New("insecure-skip-tls-verify is refused: a token must never go to a server whose certificate is not verified; set certificate-authority (or -data), or leave both out for the system roots")
	}
	var refused []string
	if rc.ExecProvider != nil {
		refused = append(refused, "exec")
	}
	if rc.AuthProvider != nil {
		refused = append(refused, "auth-provider")
	}
	if rc.Username != "" {
		refused = append(refused, "username")
	}
	if rc.Password != "" {
		refused = append(refused, "password")
	}
	im := rc.Impersonate
	if im.UserName != "" {
		refused = append(refused, "as")
	}
	if im.UID != "" {
		refused = append(refused, "as-uid")
	}
	if len(im.Groups) > 0 {
		refused = append(refused, "as-groups")
	}
	if len(im.Extra) > 0 {
		refused = append(refused, "as-user-extra")
	}
	if len(refused) > 0 {
		return fmt.Errorf("the user's %s refused: only client-certificate and client-key (or their -data), token and tokenFile may prove who this application is to tokenfed", strings.Join(refused, ", "))
	}
	return nil
}
