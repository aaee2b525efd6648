package keyset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// maxRedirects bounds same-host redirects (net/http's own limit is 10).
const maxRedirects = 3

// source loads the current keys from wherever they live.
type source interface {
	fetch(ctx context.Context) (fetched, error)
}

type fetched struct {
	parsed
	// maxAge is the JWKS response's Cache-Control max-age, 0 when absent.
	maxAge time.Duration
}

type httpSource struct {
	client    *http.Client
	discovery *url.URL
	jwks      *url.URL
	maxBytes  int64
	// issuer is what the discovery document must name itself.
	issuer string
	policy policy
	// credentials keeps jwks_uri on the discovery document's origin.
	credentials bool
}

func newHTTPSource(o Options) (*httpSource, error) {
	c := *o.Client
	c.CheckRedirect = sameHostRedirect
	c.Timeout = o.FetchTimeout
	s := &httpSource{
		client: &c, maxBytes: o.MaxResponseBytes, issuer: o.Issuer,
		policy: policy{algs: o.Algorithms}, credentials: o.Credentials,
	}
	var err error
	if o.DiscoveryURL != "" {
		s.discovery, err = parseFetchURL(o.DiscoveryURL)
	} else {
		s.jwks, err = parseFetchURL(o.JWKSURL)
	}
	return s, err
}

func (s *httpSource) fetch(ctx context.Context) (fetched, error) {
	jwks := s.jwks
	if s.discovery != nil {
		var err error
		if jwks, err = s.discover(ctx); err != nil {
			return fetched{}, err
		}
	}
	body, header, err := s.get(ctx, jwks)
	if err != nil {
		return fetched{}, err
	}
	res, err := s.policy.parseJWKS(body)
	if err != nil {
		return fetched{}, fmt.Errorf("jwks %s: %w", jwks.Redacted(), err)
	}
	return fetched{parsed: res, maxAge: maxAge(header.Get("Cache-Control"))}, nil
}

// get reads at most maxBytes of a 200 response. Bodies are never quoted in
// errors: a misbehaving server should not be able to fill our logs.
func (s *httpSource) get(ctx context.Context, u *url.URL) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, nil, err
	}
	// kube-apiserver serves its JWKS only as application/jwk-set+json and
	// answers 406 to a plain application/json Accept.
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("get %s: status %d", u.Redacted(), resp.StatusCode)
	}
	body, err := readLimited(resp.Body, s.maxBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("get %s: %w", u.Redacted(), err)
	}
	return body, resp.Header, nil
}

func readLimited(r io.Reader, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("body exceeds %d bytes", limit)
	}
	return body, nil
}

// sameHostRedirect refuses redirects to another host or from https to http.
// The client may carry credentials for the issuer, which must not follow a
// redirect elsewhere.
func sameHostRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > maxRedirects {
		return errors.New("too many redirects")
	}
	from, to := via[0].URL, req.URL
	if from.Scheme == "https" && to.Scheme != "https" {
		return errors.New("redirect from https to http refused")
	}
	if hostPort(from) != hostPort(to) {
		return fmt.Errorf("redirect to another host (%s) refused", to.Host)
	}
	return nil
}

// sameOrigin reports whether a and b have one scheme, host and port (RFC
// 6454), the unit a credential is scoped to.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && hostPort(a) == hostPort(b)
}

func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return strings.ToLower(u.Hostname()) + ":" + port
}

// maxAge returns the max-age directive, or 0 when absent or when caching is
// refused.
func maxAge(cacheControl string) time.Duration {
	var age time.Duration
	for _, d := range strings.Split(cacheControl, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		switch {
		case d == "no-store" || d == "no-cache":
			return 0
		case strings.HasPrefix(d, "max-age="):
			n, err := strconv.ParseInt(strings.TrimPrefix(d, "max-age="), 10, 32)
			if err == nil && n > 0 {
				age = time.Duration(n) * time.Second
			}
		}
	}
	return age
}

type fileSource struct {
	path     string
	maxBytes int64
	policy   policy
}

// fetch re-reads and re-parses the file every time: comparing content is
// cheaper to get right than tracking mtimes through atomic symlink swaps (as
// Kubernetes does for mounted ConfigMaps).
func (s *fileSource) fetch(context.Context) (fetched, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return fetched{}, err
	}
	defer func() { _ = f.Close() }()
	data, err := readLimited(f, s.maxBytes)
	if err != nil {
		return fetched{}, fmt.Errorf("read %s: %w", s.path, err)
	}
	res, err := s.policy.parseKeys(data)
	if err != nil {
		return fetched{}, fmt.Errorf("parse %s: %w", s.path, err)
	}
	return fetched{parsed: res}, nil
}
