package keyset

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	josejson "github.com/go-jose/go-jose/v4/json"
)

// maxURLBytes bounds jwks_uri, which errors and the readiness detail quote.
const maxURLBytes = 1024

// discoveryDoc is the part of an OpenID Provider Metadata document (OpenID
// Connect Discovery 1.0 §3) a key set relies on. It is decoded with go-jose's
// JSON: member names match case-sensitively and duplicates are refused, so a
// second "issuer" or an "Issuer" cannot mean something to us that it does not
// mean to other clients.
type discoveryDoc struct {
	Issuer  *string  `json:"issuer"`
	JWKSURI *string  `json:"jwks_uri"`
	Algs    []string `json:"id_token_signing_alg_values_supported"`
}

// discover fetches the discovery document and returns its checked jwks_uri.
func (s *httpSource) discover(ctx context.Context) (*url.URL, error) {
	body, _, err := s.get(ctx, s.discovery)
	if err != nil {
		return nil, err
	}
	u, err := s.checkDiscovery(body)
	if err != nil {
		return nil, fmt.Errorf("discovery %s: %w", s.discovery.Redacted(), err)
	}
	return u, nil
}

// checkDiscovery applies OpenID Connect Discovery 1.0 §4.3: the document's
// issuer must be identical to the configured issuer URL, which go-oidc's
// NewProvider also requires and kube-apiserver keeps when discoveryURL moves
// where the document is fetched from. Without it, a document served at the
// right place could lead to another issuer's keys.
func (s *httpSource) checkDiscovery(body []byte) (*url.URL, error) {
	var doc discoveryDoc
	if err := josejson.Unmarshal(body, &doc); err != nil {
		return nil, jsonError(err)
	}
	if doc.Issuer == nil {
		return nil, errors.New("issuer is missing")
	}
	if *doc.Issuer != s.issuer {
		return nil, fmt.Errorf("issuer %s does not match the configured issuer %q", quote(*doc.Issuer), s.issuer)
	}
	if err := s.checkAlgs(doc.Algs); err != nil {
		return nil, err
	}
	return s.jwksURI(doc.JWKSURI)
}

// checkAlgs: the allow-list decides which algorithms are accepted, as in
// go-oidc and kube-apiserver whenever one is configured. But an issuer that
// lists none of them would have every token refused one by one; failing the
// fetch says so once, in readiness. An absent or empty list says nothing.
func (s *httpSource) checkAlgs(algs []string) error {
	if len(algs) == 0 {
		return nil
	}
	for _, a := range algs {
		if s.policy.allows(a) {
			return nil
		}
	}
	quoted := make([]string, 0, maxListedDrops)
	for _, a := range algs[:min(len(algs), maxListedDrops)] {
		quoted = append(quoted, quote(a))
	}
	return fmt.Errorf("id_token_signing_alg_values_supported [%s] lists none of the allowed algorithms [%s]",
		strings.Join(quoted, ", "), strings.Join(s.policy.algs, ", "))
}

// jwksURI holds jwks_uri to the rules for configured fetch URLs, refuses a
// downgrade from an https document to a plain http key set, and, when the
// client carries credentials, a key set on another origin: the credential
// is for the issuer, and the document only says where keys are.
func (s *httpSource) jwksURI(raw *string) (*url.URL, error) {
	if raw == nil || *raw == "" {
		return nil, errors.New("jwks_uri is missing")
	}
	if len(*raw) > maxURLBytes {
		return nil, fmt.Errorf("jwks_uri is longer than %d bytes", maxURLBytes)
	}
	u, err := parseFetchURL(*raw)
	if err != nil {
		return nil, fmt.Errorf("jwks_uri: %w", err)
	}
	if s.discovery.Scheme == "https" && u.Scheme != "https" {
		return nil, errors.New("jwks_uri must be https")
	}
	if s.credentials && !sameOrigin(s.discovery, u) {
		return nil, fmt.Errorf("jwks_uri origin %s is not the discovery document's %s, and fetch credentials "+
			"are sent to the issuer only: configure jwksURL instead", quote(u.Scheme+"://"+u.Host), s.discovery.Scheme+"://"+s.discovery.Host)
	}
	return u, nil
}
