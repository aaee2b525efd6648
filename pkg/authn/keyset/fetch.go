package keyset

import (
	"context"
	"encoding/json"
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
	keys []Key
	// maxAge is the JWKS response's Cache-Control max-age, 0 when absent.
	maxAge time.Duration
}

type httpSource struct {
	client    *http.Client
	discovery *url.URL
	jwks      *url.URL
	maxBytes  int64
}

func newHTTPSource(o Options) (*httpSource, error) {
	c := *o.Client
	c.CheckRedirect = sameHostRedirect
	c.Timeout = o.FetchTimeout
	s := &httpSource{client: &c, maxBytes: o.MaxResponseBytes}
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
	keys, err := parseJWKS(body)
	if err == nil && len(keys) == 0 {
		err = errors.New("no usable keys")
	}
	if err != nil {
		return fetched{}, fmt.Errorf("jwks %s: %w", jwks.Redacted(), err)
	}
	return fetched{keys: keys, maxAge: maxAge(header.Get("Cache-Control"))}, nil
}

// discover reads jwks_uri from the discovery document.
func (s *httpSource) discover(ctx context.Context) (*url.URL, error) {
	body, _, err := s.get(ctx, s.discovery)
	if err != nil {
		return nil, err
	}
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("discovery %s: %w", s.discovery.Redacted(), err)
	}
	u, err := parseFetchURL(doc.JWKSURI)
	if err != nil {
		return nil, fmt.Errorf("discovery %s: jwks_uri: %w", s.discovery.Redacted(), err)
	}
	if s.discovery.Scheme == "https" && u.Scheme != "https" {
		return nil, fmt.Errorf("discovery %s: jwks_uri must be https", s.discovery.Redacted())
	}
	return u, nil
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
	keys, err := parseKeys(data)
	if err != nil {
		return fetched{}, fmt.Errorf("parse %s: %w", s.path, err)
	}
	return fetched{keys: keys}, nil
}
