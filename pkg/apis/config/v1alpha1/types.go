package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
)

// GroupName is the API group of tokenfed's configuration file.
const GroupName = "tokenfed.io"

// Version is the only configuration version so far.
const Version = "v1alpha1"

// Kind is the kind of the configuration file.
const Kind = "Configuration"

// Configuration is the whole tokenfed configuration file.
type Configuration struct {
	metav1.TypeMeta `json:",inline"`

	// Server configures the HTTPS listener.
	Server Server `json:"server"`

	// Cache configures the result cache that sits in front of every issuer.
	Cache Cache `json:"cache"`

	// Issuers are the token issuers tokenfed trusts. A token is routed to
	// exactly one of them by its unverified `iss` (and `kid`, when several
	// issuers share one issuer string). Empty means every token is rejected.
	Issuers []Issuer `json:"issuers,omitempty"`

	// OpaqueTokenUpstream names the issuer whose upstream receives tokens that
	// are not JWTs (opaque tokens). Empty, the default, rejects opaque tokens
	// without sending them anywhere: a token is only ever sent to the cluster
	// that an operator named for it.
	OpaqueTokenUpstream string `json:"opaqueTokenUpstream,omitempty"`

	// DeniedGroups are never emitted for any issuer, in addition to each
	// issuer's own list. system:masters is always denied, listed or not.
	DeniedGroups []string `json:"deniedGroups,omitempty"`

	// Callers says who may ask tokenfed for reviews and read its privileged
	// endpoints (/metrics, /readyz?verbose, /debug/pprof). See
	// docs/callers.md.
	Callers Callers `json:"callers"`

	// Readiness says whether issuers' keys gate /readyz.
	Readiness Readiness `json:"readiness"`
}

// Callers configures caller authentication and authorization.
type Callers struct {
	// Tokens lets callers authenticate with their own bearer token in the
	// Authorization header, reviewed by tokenfed's own chain. Caller
	// certificates need server.clientCAFile. Optional.
	Tokens *CallerTokens `json:"tokens,omitempty"`

	// AllowAnonymous admits callers that present no credential. It is only
	// valid while no caller credential is configured (no clientCAFile, no
	// tokens), and then it is required: tokenfed does not start open to
	// anyone who can reach its port unless told to. Default false.
	AllowAnonymous bool `json:"allowAnonymous,omitempty"`

	// Authorization decides what an authenticated caller may do.
	Authorization CallerAuthorization `json:"authorization"`
}

// CallerTokens are caller credentials: tokens of configured issuers,
// minted for tokenfed itself.
type CallerTokens struct {
	// Audiences: a caller token must be valid for one of them, so a token
	// minted for another service cannot be replayed as a caller credential
	// (kubectl create token app --audience tokenfed). Required.
	Audiences []string `json:"audiences"`
	// Issuers names the configured issuers whose tokens may be caller
	// credentials, typically the cluster tokenfed runs in. Required.
	Issuers []string `json:"issuers"`
}

// CallerAuthorizationMode says who decides.
type CallerAuthorizationMode string

const (
	// CallerAuthorizationStatic decides from the Static list. With an empty
	// list every authenticated caller may do everything.
	CallerAuthorizationStatic CallerAuthorizationMode = "Static"
	// CallerAuthorizationDelegated asks the cluster tokenfed runs in with a
	// SubjectAccessReview: verb review, API group tokenfed.io, resource
	// issuers, name = issuer; for privileged endpoints, verb get on the
	// non-resource path.
	CallerAuthorizationDelegated CallerAuthorizationMode = "Delegated"
)

// CallerAuthorization configures one of the two modes.
type CallerAuthorization struct {
	// Mode is Static or Delegated. Default Static.
	Mode CallerAuthorizationMode `json:"mode"`
	// Static is the list of caller policies, first match wins. Once it has
	// an entry, a caller that matches none is refused with 403.
	Static []CallerPolicy `json:"static,omitempty"`
	// Delegated configures SubjectAccessReview; required in Delegated mode.
	Delegated *DelegatedAuthorization `json:"delegated,omitempty"`
}

// CallerPolicy matches callers and grants them issuers, audiences and
// endpoints. A caller matches when any listed user, group or URI matches.
type CallerPolicy struct {
	// Name is a DNS-1123 label, unique; it is the metrics label for callers
	// of this policy, so raw identities never become label values.
	Name string `json:"name"`
	// Users are exact caller usernames: a client certificate's CN, or the
	// federated name of a token (with its issuer's prefix).
	Users []string `json:"users,omitempty"`
	// Groups are caller groups: a client certificate's O, or a token's
	// federated groups.
	Groups []string `json:"groups,omitempty"`
	// URIs are URI SANs of the client certificate, such as SPIFFE IDs.
	URIs []string `json:"uris,omitempty"`
	// Issuers the caller may review tokens of, by name; "*" is every issuer.
	// A review of a token of any other issuer is answered
	// authenticated: false without a signature check or an upstream call.
	Issuers []string `json:"issuers,omitempty"`
	// Audiences, when set, are the only spec.audiences the caller may ask
	// about; every audience of a review must be listed, and a review must
	// name some. Empty allows any.
	Audiences []string `json:"audiences,omitempty"`
	// Endpoints are the privileged paths the caller may read: /metrics,
	// /readyz (its details) and /debug/pprof.
	Endpoints []string `json:"endpoints,omitempty"`
	// RateLimit bounds the reviews of all callers of this policy together.
	// Beyond it they get 429 with Retry-After. Default: none.
	RateLimit *RateLimit `json:"rateLimit,omitempty"`
}

// RateLimit is a token bucket (golang.org/x/time/rate).
type RateLimit struct {
	// QPS is the sustained rate, in reviews per second. Required, > 0.
	QPS float64 `json:"qps"`
	// Burst is how many reviews may come at once. Default: QPS rounded up.
	Burst int32 `json:"burst,omitempty"`
}

// DelegatedAuthorization reaches the cluster that decides.
type DelegatedAuthorization struct {
	// Kubeconfig is the path of a kubeconfig; its user needs create
	// subjectaccessreviews. Set it or InCluster.
	Kubeconfig string `json:"kubeconfig,omitempty"`
	// InCluster uses the pod's service account.
	InCluster bool `json:"inCluster,omitempty"`
	// AllowCacheTTL and DenyCacheTTL are how long decisions are reused, as in
	// k8s.io/apiserver's delegating authorizer. Defaults 5m and 30s: a
	// removed RoleBinding takes effect within AllowCacheTTL.
	AllowCacheTTL metav1.Duration `json:"allowCacheTTL"`
	DenyCacheTTL  metav1.Duration `json:"denyCacheTTL"`
	// RateLimit bounds each caller (by username) separately. Default none.
	RateLimit *RateLimit `json:"rateLimit,omitempty"`
}

// Server configures the HTTPS listener.
type Server struct {
	// BindAddress is the IP address to listen on. Default 0.0.0.0.
	BindAddress string `json:"bindAddress"`

	// SecurePort is the HTTPS port. Default 8443.
	SecurePort int32 `json:"securePort"`

	// TLSCertFile is the PEM serving certificate (chain). It is re-read when it
	// changes on disk, so cert-manager can rotate it without a restart. Required.
	TLSCertFile string `json:"tlsCertFile"`

	// TLSPrivateKeyFile is the PEM private key of TLSCertFile. Required.
	TLSPrivateKeyFile string `json:"tlsPrivateKeyFile"`

	// ClientCAFile, when set, makes callers present a client certificate
	// signed by one of these CAs. It is re-read when it changes on disk.
	// Empty accepts any caller: then protect tokenfed with network policy.
	ClientCAFile string `json:"clientCAFile,omitempty"`

	// MaxRequestBodyBytes caps a request body. Default 1048576 (1 MiB), the
	// same cap kube-apiserver's webhook clients live with. Bigger bodies get 400.
	MaxRequestBodyBytes int64 `json:"maxRequestBodyBytes"`

	// ReadTimeout bounds reading a whole request. Default 10s.
	ReadTimeout metav1.Duration `json:"readTimeout"`

	// WriteTimeout bounds a whole request from the end of its headers to the
	// end of the response. It must exceed the slowest upstream call. Default 30s.
	WriteTimeout metav1.Duration `json:"writeTimeout"`

	// IdleTimeout closes idle keep-alive connections. Default 120s.
	IdleTimeout metav1.Duration `json:"idleTimeout"`

	// ShutdownGracePeriod is how long in-flight reviews may run after SIGTERM.
	// Default 20s, below Kubernetes' default 30s termination grace period.
	ShutdownGracePeriod metav1.Duration `json:"shutdownGracePeriod"`

	// MaxConnections bounds the connections open at once, HTTP/1 and
	// HTTP/2 together. Past it the connection idle the longest (no request
	// in flight) is closed to accept a new one; only when every connection
	// has a request in flight do further clients wait to be accepted. Each
	// open connection costs goroutines and buffers, and TLS is accepted
	// from anyone who can reach the port, so without a bound idle
	// connections could exhaust memory, and without closing idle ones they
	// could lock every caller and the kubelet's probes out. Default 1000.
	MaxConnections int32 `json:"maxConnections"`

	// MaxConcurrentStreams bounds the streams (requests in flight) of one
	// HTTP/2 connection, announced as SETTINGS_MAX_CONCURRENT_STREAMS; a
	// client needing more opens another connection. Default 100.
	MaxConcurrentStreams int32 `json:"maxConcurrentStreams"`

	// MaxRequestsInFlight bounds the requests served at once over all
	// connections. Beyond it a request is answered 503 at once, without
	// Retry-After, which a calling kube-apiserver does not retry. Health
	// probes and /metrics are not counted. It is what bounds the
	// goroutines slow or idle HTTP/2 streams can hold. Default 400, as
	// kube-apiserver's --max-requests-inflight.
	MaxRequestsInFlight int32 `json:"maxRequestsInFlight"`
}

// Cache configures the result cache.
type Cache struct {
	// SuccessTTL is how long an authenticated result is reused. It is always
	// capped at the token's own `exp`. Default 2m.
	SuccessTTL metav1.Duration `json:"successTTL"`

	// FailureTTL is how long a rejection is reused. Keep it short: a token that
	// failed because keys were rotating should work again soon. Default 10s.
	FailureTTL metav1.Duration `json:"failureTTL"`

	// MaxEntries bounds the cache; the least recently used entries are evicted
	// first. Authenticated answers and rejections are kept apart: up to
	// MaxEntries answers, and up to a quarter as many rejections on top,
	// which only evict each other, so a flood of forged tokens cannot push
	// real answers out. Expired answers are dropped as new ones come in.
	// Default 100000: about 64 MiB of RSS full of answers whose tokens share
	// identities, up to about 150 MiB when every token is its own identity
	// (docs/capacity.md, "Memory").
	MaxEntries int32 `json:"maxEntries"`
}

// IssuerType says how tokens of an issuer are turned into a user.
type IssuerType string

const (
	// IssuerTypeServiceAccount is a Kubernetes service-account issuer. The
	// user is exactly what that cluster's own service-account authenticator
	// produces.
	IssuerTypeServiceAccount IssuerType = "ServiceAccount"
	// IssuerTypeOIDC is a generic OIDC provider, mapped with the same CEL
	// claim mappings kube-apiserver's AuthenticationConfiguration uses.
	IssuerTypeOIDC IssuerType = "OIDC"
)

// Issuer is one trusted token issuer.
type Issuer struct {
	// Name identifies the issuer in metrics, logs and the default prefix. It
	// must be unique and a DNS-1123 label.
	Name string `json:"name"`

	// Type is ServiceAccount or OIDC. Default ServiceAccount.
	Type IssuerType `json:"type"`

	// URL is the exact `iss` claim of its tokens. Required.
	URL string `json:"url"`

	// DiscoveryURL overrides where the OpenID discovery document is fetched
	// from, for issuers whose URL is not reachable from tokenfed (e.g. a
	// cluster's in-cluster issuer). Default: URL + /.well-known/openid-configuration.
	DiscoveryURL string `json:"discoveryURL,omitempty"`

	// JWKSURL skips discovery and fetches keys from this URL directly.
	JWKSURL string `json:"jwksURL,omitempty"`

	// StaticKeys replaces discovery with keys an operator provides.
	StaticKeys *StaticKeys `json:"staticKeys,omitempty"`

	// KeyIDs are `kid`s the operator assigns to this issuer. They matter
	// for tokens routed by kid: those whose iss several issuers claim (a
	// shared URL, or the legacy iss "kubernetes/serviceaccount", which every
	// ServiceAccount issuer claims) or other clusters may use too (an
	// in-cluster name of the API server, such as kubeadm's default
	// https://kubernetes.default.svc.cluster.local). Then
	//   - a kid listed here, or of a static key, is this issuer's alone: no
	//     two issuers that share an iss may list one kid;
	//   - a kid only a fetched key set holds is that issuer's when no other
	//     issuer sharing the iss holds it and all of them have keys loaded,
	//     since any cluster can publish anyone's public key;
	//   - a kid no issuer holds refetches each one's keys (once per
	//     unknownKidCooldown), then the token is refused.
	// A kid listed here is the issuer's even when its fetched keys lack it,
	// so with an upstream such a token goes to its cluster. List kids to
	// keep routing while an issuer sharing the iss cannot be fetched, or
	// ahead of a rotation of static keys.
	KeyIDs []string `json:"keyIDs,omitempty"`

	// Audiences the token must be valid for when a review names none.
	// Required for OIDC; for ServiceAccount the default is [URL], which is
	// kube-apiserver's default --api-audiences.
	Audiences []string `json:"audiences,omitempty"`

	// ReviewAudiences (OIDC only) are the review audiences that this issuer's
	// own audience check stands in for, as a kube-apiserver's --api-audiences
	// are for the JWT authenticators configured in it (kube-apiserver wraps
	// them with authenticator.WrapAudienceAgnosticToken). A member
	// kube-apiserver always reviews with its API audiences, which an OIDC
	// token never carries: list them here to let this issuer's users log in
	// through that member.
	//
	// A review is answered for a token that is valid for Audiences when
	//   - the token's aud contains one of the review's audiences (direct), or
	//   - one of the review's audiences is listed here (stand-in); then
	//     status.audiences is the review's audiences that are listed here.
	// Default empty: only direct matches, so an OIDC token is never valid for
	// an audience an app merely asks about. Values in the tokenfed.io/ domain
	// are reserved.
	ReviewAudiences []string `json:"reviewAudiences,omitempty"`

	// AudienceMatchPolicy is MatchAny: a token needs one of Audiences.
	AudienceMatchPolicy string `json:"audienceMatchPolicy,omitempty"`

	// Algorithms is the allow-list of signing algorithms. Default [RS256, ES256].
	// HS* and none are never allowed.
	Algorithms []string `json:"algorithms,omitempty"`

	// AllowMissingExpiry accepts tokens without `exp`. Default false: a token
	// that never expires is only as safe as its issuer's revocation.
	AllowMissingExpiry bool `json:"allowMissingExpiry,omitempty"`

	// Fetch configures how discovery and JWKS are fetched.
	Fetch Fetch `json:"fetch"`

	// Mapping configures how the verified identity is presented.
	Mapping Mapping `json:"mapping"`

	// ClaimMappings (OIDC only) uses kube-apiserver's JWTAuthenticator
	// semantics, including CEL expressions. Default username claim `sub`.
	ClaimMappings *apiserverv1.ClaimMappings `json:"claimMappings,omitempty"`

	// ClaimValidationRules (OIDC only), as in kube-apiserver.
	ClaimValidationRules []apiserverv1.ClaimValidationRule `json:"claimValidationRules,omitempty"`

	// UserValidationRules (OIDC only), as in kube-apiserver.
	UserValidationRules []apiserverv1.UserValidationRule `json:"userValidationRules,omitempty"`

	// Upstream is the issuing cluster's own TokenReview API, the authority for
	// tokens that cannot be verified locally. Optional.
	Upstream *Upstream `json:"upstream,omitempty"`

	// Revocation (ServiceAccount only) has tokenfed learn, without a round
	// trip per token, that a token's objects are gone, as the issuing
	// cluster would. It uses the upstream's credentials. Optional: without
	// it a locally verified token is valid until its exp unless the
	// upstream policy asks the cluster. See docs/revocation.md.
	Revocation *Revocation `json:"revocation,omitempty"`
}

// RevocationMode says how tokenfed learns that a token was revoked.
type RevocationMode string

const (
	// RevocationWatch watches the issuing cluster's ServiceAccounts, Pods
	// and Nodes (and Secrets, when granted) with metadata-only informers,
	// and accepts a locally verified token only while every object it
	// references exists with the UID it names, by kube-apiserver's rule
	// (pkg/serviceaccount/claims.go).
	RevocationWatch RevocationMode = "watch"
)

// RevocationFallback says what happens to a locally verified token while
// the watch cannot vouch for it.
type RevocationFallback string

const (
	// RevocationFallbackUpstream has the cluster's TokenReview API confirm
	// it, as policy always would.
	RevocationFallbackUpstream RevocationFallback = "upstream"
	// RevocationFallbackReject rejects it, uncached, until the watch vouches
	// again.
	RevocationFallbackReject RevocationFallback = "reject"
)

// Revocation configures revocation checks of an issuer's tokens.
type Revocation struct {
	// Mode is watch, the only mode so far. Required.
	Mode RevocationMode `json:"mode"`
	// Secrets also watches Secrets, so secret-bound tokens are checked
	// locally too. It needs list and watch on secrets in the issuing
	// cluster, which is sensitive: without it (the default) a secret-bound
	// token is handled as with notSynced. Legacy (secret-based) tokens
	// always go upstream: their Secret's data, which a metadata watch does
	// not see, decides them.
	Secrets bool `json:"secrets,omitempty"`
	// NotSynced is what happens to a locally verified token while the watch
	// cannot vouch for it: before the first sync, after the watch has been
	// broken longer than maxWatchOutage, for a secret-bound token without
	// secrets, and for a token issued in the last few seconds whose objects
	// the watch has not seen yet. upstream (default) or reject; upstream
	// needs an upstream policy other than never.
	NotSynced RevocationFallback `json:"notSynced,omitempty"`
	// MaxWatchOutage is how long the objects last seen still vouch for
	// tokens after a watch broke; it bounds how late a deletion during an
	// outage is noticed. Default 30s.
	MaxWatchOutage metav1.Duration `json:"maxWatchOutage"`
}

// StaticKeys are keys given by the operator instead of discovery.
type StaticKeys struct {
	// JWKS is an inline JSON Web Key Set.
	JWKS string `json:"jwks,omitempty"`
	// File is a JWKS or PEM public-key file, re-read when it changes.
	File string `json:"file,omitempty"`
}

// Fetch configures the HTTP client for discovery and JWKS.
type Fetch struct {
	// CAFile is a PEM bundle to trust instead of the system roots.
	CAFile string `json:"caFile,omitempty"`
	// BearerTokenFile is sent as `Authorization: Bearer`; it is re-read when
	// it changes. Typically a token of the remote cluster that may read its
	// discovery endpoints.
	BearerTokenFile string `json:"bearerTokenFile,omitempty"`
	// ClientCertFile and ClientKeyFile authenticate with a client certificate.
	//
	// Credentials (a bearer token or a client certificate) are for the
	// issuer: with either set, a discovery document whose jwks_uri is on
	// another origin (scheme, host and port) fails the fetch, and readiness
	// says so; set jwksURL then. Redirects never leave the host.
	ClientCertFile string `json:"clientCertFile,omitempty"`
	ClientKeyFile  string `json:"clientKeyFile,omitempty"`
	// Timeout bounds one fetch. Default 10s.
	Timeout metav1.Duration `json:"timeout"`
	// UnknownKidCooldown is the least time between two refetches triggered by
	// an unknown `kid`, so a flood of random kids costs one fetch. Default 10s.
	UnknownKidCooldown metav1.Duration `json:"unknownKidCooldown"`
	// MinRefresh and MaxRefresh bound the background refresh interval, which
	// otherwise follows the JWKS response's Cache-Control. Defaults 1m and 1h.
	MinRefresh metav1.Duration `json:"minRefresh"`
	MaxRefresh metav1.Duration `json:"maxRefresh"`
	// MaxStaleness is how long the last good keys are used while the issuer
	// cannot be reached. Default 24h. After it, tokens of this issuer fail.
	MaxStaleness metav1.Duration `json:"maxStaleness"`
}

// Mapping configures the identity tokenfed emits for an issuer.
type Mapping struct {
	// Prefix is put before the username and every group. Default "<name>:",
	// so that the same service account name in two clusters is two users.
	// Prefixes are identity namespaces: no two issuers may share one, no
	// prefix may start another (compared case-insensitively), and none may
	// start with, or be the start of, "system:", which Kubernetes reserves.
	Prefix *string `json:"prefix,omitempty"`
	// AllowUnprefixed must be true for an empty Prefix. It makes this issuer's
	// users indistinguishable from local users of the calling cluster. At
	// most one issuer may be unprefixed, and its answers are refused when a
	// username or group falls under another issuer's prefix.
	AllowUnprefixed bool `json:"allowUnprefixed,omitempty"`
	// DeniedGroups are removed from the emitted groups, before prefixing.
	DeniedGroups []string `json:"deniedGroups,omitempty"`
	// DeniedUsernames reject a token whose (unprefixed) username is listed.
	DeniedUsernames []string `json:"deniedUsernames,omitempty"`
}

// UpstreamPolicy says when the issuing cluster confirms a token.
type UpstreamPolicy string

const (
	// UpstreamNever never calls the upstream.
	UpstreamNever UpstreamPolicy = "never"
	// UpstreamOnFailure calls it for tokens that cannot be verified locally.
	UpstreamOnFailure UpstreamPolicy = "onFailure"
	// UpstreamAlways calls it for every token of the issuer.
	UpstreamAlways UpstreamPolicy = "always"
	// UpstreamWhenBound calls it for tokens bound to a Pod, Secret or Node, so
	// deleting the object revokes the token. With revocation mode watch it
	// is refused: the watch covers those tokens.
	UpstreamWhenBound UpstreamPolicy = "whenBound"
)

// Upstream is an issuing cluster's TokenReview API.
type Upstream struct {
	// Kubeconfig is the path of a kubeconfig for the issuing cluster. Its
	// user needs `create tokenreviews` (config/upstream-rbac grants only
	// that), and for revocation list and watch
	// (config/upstream-rbac/revocation).
	Kubeconfig string `json:"kubeconfig,omitempty"`
	// InCluster uses the pod's own service account instead of Kubeconfig.
	InCluster bool `json:"inCluster,omitempty"`
	// Policy is never, onFailure, always or whenBound. Default onFailure.
	//
	// Except with never, a token that cannot be verified locally is sent
	// when it can be this cluster's: a legacy token, keys that are not
	// loaded, or a key tokenfed does not hold because the keys are static
	// (they may lag a rotation), the last fetch failed, or keyIDs lists its
	// kid. A key the issuer's freshly fetched key set lacks (fetched within
	// fetch.unknownKidCooldown, after a refetch for it) is not the
	// issuer's: kube-apiserver publishes every key it verifies with, so the
	// token is another cluster's that uses the same iss, and it is refused
	// without being sent. Tokens known to be bad locally (signature, expiry,
	// audience) are never sent.
	//
	// always and whenBound have the cluster confirm tokens that verified
	// locally; the answer keeps only audiences both found, and for a
	// ServiceAccount token the cluster must name the user its claims name.
	Policy UpstreamPolicy `json:"policy,omitempty"`
	// Timeout bounds one upstream TokenReview. Default 5s.
	Timeout metav1.Duration `json:"timeout"`
	// MaxConcurrent bounds in-flight calls to this upstream; reviews beyond it
	// fail fast instead of piling up. Default 32.
	MaxConcurrent int32 `json:"maxConcurrent"`
}
