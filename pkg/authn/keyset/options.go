package keyset

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/tokenfed/tokenfed/pkg/authn/jws"
	"k8s.io/utils/clock"
)

// Defaults applied by New to zero-valued Options fields.
const (
	DefaultUnknownKidCooldown = 10 * time.Second
	DefaultMinRefresh         = time.Minute
	DefaultMaxRefresh         = time.Hour
	DefaultMaxStaleness       = 24 * time.Hour
	DefaultFetchTimeout       = 10 * time.Second
	DefaultMaxResponseBytes   = 1 << 20
)

// Options configure one issuer's key set.
//
// Exactly one of DiscoveryURL, JWKSURL, StaticJWKS and StaticFile must be set.
type Options struct {
	// IssuerName labels metrics and logs. It is an operator-chosen name, never
	// anything taken from a token.
	IssuerName string
	// Issuer is the issuer URL, exactly as tokens carry it in "iss". A
	// discovery document must name itself with it (OpenID Connect Discovery
	// 1.0 §4.3), wherever DiscoveryURL fetches it from. Required with
	// DiscoveryURL; unused otherwise.
	Issuer string

	// DiscoveryURL is the full URL of an OpenID configuration document. Its
	// jwks_uri is fetched with the same client, so it may name another host
	// (unless Credentials is set): the discovery document is as trusted as
	// the keys it leads to. jwks_uri must be a URL this field would accept,
	// and an https discovery document may not point at a plain http
	// jwks_uri. A document whose issuer differs from Issuer, or whose
	// id_token_signing_alg_values_supported lists none of Algorithms, fails
	// the fetch.
	DiscoveryURL string
	// JWKSURL is fetched directly.
	JWKSURL string
	// StaticJWKS holds a JWKS document or PEM public keys (PKIX, PKCS#1 or
	// certificates). PEM keys get the key ID kube-apiserver derives for them.
	StaticJWKS []byte
	// StaticFile is a path to a JWKS document or PEM public keys. It is
	// re-read every MinRefresh and on an unknown kid, and swapped in when its
	// content changes.
	StaticFile string

	// Client carries the CA bundle and credentials for remote sources. The key
	// set uses a copy of it whose redirect policy refuses other hosts and
	// https->http downgrades, and whose timeout is FetchTimeout. Nil means a
	// client with http.DefaultTransport.
	Client *http.Client
	// Credentials says Client sends credentials (a bearer token or a client
	// certificate) meant for the issuer alone. A discovery document's
	// jwks_uri must then have DiscoveryURL's scheme, host and port, or the
	// fetch fails: whoever can change the document could otherwise point
	// jwks_uri at a host of theirs and collect the credential. Redirects are
	// held to the same host whether or not it is set.
	Credentials bool

	// Algorithms is the allow-list of JWS algorithms. Default: RS256, the
	// algorithm OpenID Connect requires providers to support.
	//
	// Every key is checked against it when loaded, from any source: a key
	// whose "alg" is not allowed or does not fit its type, or that no allowed
	// algorithm fits, is dropped, as are symmetric keys, keys published with
	// private material, keys whose use or key_ops exclude verification, RSA
	// keys under 2048 bits and invalid keys. Different keys that share a kid
	// and fit one allowed algorithm are all dropped: a kid never picks among
	// keys silently. A load that keeps no key fails, and the last good keys
	// stay in use; Status and the metrics say what was dropped and why.
	Algorithms []string

	// UnknownKidCooldown bounds refetches caused by unknown key IDs to one per
	// window; concurrent triggers share one fetch. Default 10s.
	UnknownKidCooldown time.Duration
	// MinRefresh and MaxRefresh clamp the background refresh interval, which
	// follows the JWKS response's Cache-Control max-age (MinRefresh when it
	// has none, and after a failed fetch). Defaults 1m and 1h.
	MinRefresh, MaxRefresh time.Duration
	// MaxStaleness is how long the last good keys keep being served after the
	// last successful fetch while fetches fail. Afterwards the key set is not
	// ready. Default 24h.
	MaxStaleness time.Duration
	// FetchTimeout bounds each HTTP request. Default 10s.
	FetchTimeout time.Duration
	// MaxResponseBytes caps every response body. Default 1 MiB.
	MaxResponseBytes int64

	// Clock drives refresh, cooldown and staleness. Default: the real clock.
	Clock clock.Clock
	// Metrics, when set, receives fetch counts and reports age and staleness.
	Metrics *Metrics
}

func (o *Options) setDefaults() {
	if len(o.Algorithms) == 0 {
		o.Algorithms = slices.Clone(jws.DefaultOIDCAlgorithms)
	}
	setDuration(&o.UnknownKidCooldown, DefaultUnknownKidCooldown)
	setDuration(&o.MinRefresh, DefaultMinRefresh)
	setDuration(&o.MaxRefresh, DefaultMaxRefresh)
	setDuration(&o.MaxStaleness, DefaultMaxStaleness)
	setDuration(&o.FetchTimeout, DefaultFetchTimeout)
	if o.MaxResponseBytes == 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Client == nil {
		o.Client = &http.Client{Transport: http.DefaultTransport}
	}
}

func setDuration(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

func (o *Options) validate() error {
	if o.IssuerName == "" {
		return errors.New("issuer name is required")
	}
	if err := o.validateSource(); err != nil {
		return err
	}
	if o.DiscoveryURL != "" && o.Issuer == "" {
		return errors.New("issuer URL is required to check the discovery document")
	}
	for _, alg := range o.Algorithms {
		if !jws.Supported(alg) {
			return fmt.Errorf("algorithm %q is not supported", alg)
		}
	}
	if o.MinRefresh < 0 || o.MaxRefresh < o.MinRefresh {
		return fmt.Errorf("refresh bounds [%s, %s] are invalid", o.MinRefresh, o.MaxRefresh)
	}
	if o.UnknownKidCooldown < 0 || o.MaxStaleness < 0 || o.FetchTimeout < 0 || o.MaxResponseBytes < 0 {
		return errors.New("durations and sizes must not be negative")
	}
	return nil
}

func (o *Options) validateSource() error {
	n := 0
	for _, set := range []bool{o.DiscoveryURL != "", o.JWKSURL != "", len(o.StaticJWKS) > 0, o.StaticFile != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("exactly one key source is required, got %d", n)
	}
	for _, raw := range []string{o.DiscoveryURL, o.JWKSURL} {
		if raw == "" {
			continue
		}
		if _, err := parseFetchURL(raw); err != nil {
			return err
		}
	}
	return nil
}

// parseFetchURL accepts absolute http(s) URLs without user info.
func parseFetchURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse url: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("url %q must be absolute http(s)", u.Redacted())
	}
	if u.User != nil {
		return nil, fmt.Errorf("url %q must not carry user info", u.Redacted())
	}
	return u, nil
}
