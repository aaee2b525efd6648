package v1alpha1

import (
	"github.com/tokenfed/tokenfed/pkg/authn/jws"
	"math"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Defaults of the fields that have one. They live here and nowhere else.
const (
	DefaultBindAddress         = "0.0.0.0"
	DefaultSecurePort          = 8443
	DefaultMaxRequestBodyBytes = 1 << 20
	DefaultMaxCacheEntries     = 100000
	DefaultUpstreamConcurrency = 32
	DefaultMaxConnections      = 1000
	// DefaultMaxConcurrentStreams is what Go's HTTP/2 server announced
	// before it raised it to 250; a client opens more connections for more.
	DefaultMaxConcurrentStreams = 100
	// DefaultMaxRequestsInFlight is kube-apiserver's --max-requests-inflight.
	DefaultMaxRequestsInFlight = 400
)

// Default durations.
var (
	DefaultReadTimeout         = 10 * time.Second
	DefaultWriteTimeout        = 30 * time.Second
	DefaultIdleTimeout         = 120 * time.Second
	DefaultShutdownGracePeriod = 20 * time.Second
	DefaultSuccessTTL          = 2 * time.Minute
	DefaultFailureTTL          = 10 * time.Second
	DefaultFetchTimeout        = 10 * time.Second
	DefaultUnknownKidCooldown  = 10 * time.Second
	DefaultMinRefresh          = time.Minute
	DefaultMaxRefresh          = time.Hour
	DefaultMaxStaleness        = 24 * time.Hour
	DefaultUpstreamTimeout     = 5 * time.Second
	DefaultAllowCacheTTL       = 5 * time.Minute
	DefaultDenyCacheTTL        = 30 * time.Second
	DefaultMaxWatchOutage      = 30 * time.Second
)

// SetDefaults fills every unset field of c with its default. It is
// idempotent and never overrides a value the user set.
func SetDefaults(c *Configuration) {
	c.APIVersion = GroupName + "/" + Version
	c.Kind = Kind
	setServerDefaults(&c.Server)
	setCacheDefaults(&c.Cache)
	for i := range c.Issuers {
		setIssuerDefaults(&c.Issuers[i])
	}
	setCallerDefaults(&c.Callers)
	setReadinessDefaults(&c.Readiness)
}

func setCallerDefaults(c *Callers) {
	if c.Authorization.Mode == "" {
		c.Authorization.Mode = CallerAuthorizationStatic
	}
	for i := range c.Authorization.Static {
		setRateDefaults(c.Authorization.Static[i].RateLimit)
	}
	if d := c.Authorization.Delegated; d != nil {
		setDuration(&d.AllowCacheTTL, DefaultAllowCacheTTL)
		setDuration(&d.DenyCacheTTL, DefaultDenyCacheTTL)
		setRateDefaults(d.RateLimit)
	}
}

func setRateDefaults(r *RateLimit) {
	if r != nil && r.Burst == 0 {
		r.Burst = int32(math.Ceil(r.QPS))
	}
}

func setServerDefaults(s *Server) {
	setString(&s.BindAddress, DefaultBindAddress)
	if s.SecurePort == 0 {
		s.SecurePort = DefaultSecurePort
	}
	if s.MaxRequestBodyBytes == 0 {
		s.MaxRequestBodyBytes = DefaultMaxRequestBodyBytes
	}
	setDuration(&s.ReadTimeout, DefaultReadTimeout)
	setDuration(&s.WriteTimeout, DefaultWriteTimeout)
	setDuration(&s.IdleTimeout, DefaultIdleTimeout)
	setDuration(&s.ShutdownGracePeriod, DefaultShutdownGracePeriod)
	setInt32(&s.MaxConnections, DefaultMaxConnections)
	setInt32(&s.MaxConcurrentStreams, DefaultMaxConcurrentStreams)
	setInt32(&s.MaxRequestsInFlight, DefaultMaxRequestsInFlight)
}

func setInt32(n *int32, def int32) {
	if *n == 0 {
		*n = def
	}
}

func setCacheDefaults(c *Cache) {
	setDuration(&c.SuccessTTL, DefaultSuccessTTL)
	setDuration(&c.FailureTTL, DefaultFailureTTL)
	if c.MaxEntries == 0 {
		c.MaxEntries = DefaultMaxCacheEntries
	}
}

func setIssuerDefaults(is *Issuer) {
	if is.Type == "" {
		is.Type = IssuerTypeServiceAccount
	}
	if len(is.Audiences) == 0 && is.Type == IssuerTypeServiceAccount && is.URL != "" {
		is.Audiences = []string{is.URL}
	}
	setString(&is.AudienceMatchPolicy, "MatchAny")
	if len(is.Algorithms) == 0 {
		is.Algorithms = slices.Clone(jws.DefaultAlgorithms)
	}
	setFetchDefaults(&is.Fetch)
	if is.Mapping.Prefix == nil && is.Name != "" {
		prefix := is.Name + ":"
		is.Mapping.Prefix = &prefix
	}
	if is.Upstream != nil {
		setUpstreamDefaults(is.Upstream)
	}
	if is.Revocation != nil {
		setRevocationDefaults(is.Revocation)
	}
}

func setRevocationDefaults(r *Revocation) {
	if r.NotSynced == "" {
		r.NotSynced = RevocationFallbackUpstream
	}
	setDuration(&r.MaxWatchOutage, DefaultMaxWatchOutage)
}

func setFetchDefaults(f *Fetch) {
	setDuration(&f.Timeout, DefaultFetchTimeout)
	setDuration(&f.UnknownKidCooldown, DefaultUnknownKidCooldown)
	setDuration(&f.MinRefresh, DefaultMinRefresh)
	setDuration(&f.MaxRefresh, DefaultMaxRefresh)
	setDuration(&f.MaxStaleness, DefaultMaxStaleness)
}

func setUpstreamDefaults(u *Upstream) {
	if u.Policy == "" {
		u.Policy = UpstreamOnFailure
	}
	setDuration(&u.Timeout, DefaultUpstreamTimeout)
	if u.MaxConcurrent == 0 {
		u.MaxConcurrent = DefaultUpstreamConcurrency
	}
}

func setString(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

func setDuration(d *metav1.Duration, def time.Duration) {
	if d.Duration == 0 {
		d.Duration = def
	}
}
