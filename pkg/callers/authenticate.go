package callers

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"net/http"
	"slices"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/group"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/request/union"
	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/utils/lru"

	"github.com/tokenfed/tokenfed/pkg/authn/mapping"
)

// URISANExtraKey carries a caller certificate's URI SANs (SPIFFE IDs and
// the like), so policies can match them.
const URISANExtraKey = "tokenfed.io/uri-san"

// TokenOptions configure caller tokens.
type TokenOptions struct {
	// Reviewer is tokenfed's own chain as it reviews caller tokens
	// (authn.CallerTokens): locally only, never upstream, with a cache of
	// its own that makes a caller's repeated token cost one lookup.
	Reviewer authenticator.Token
	// Audiences: the token must be valid for one (tokenfed's own).
	Audiences authenticator.Audiences
	// Issuers whose tokens may be caller credentials, by name.
	Issuers []string
	// Router names a token's issuers without cryptography or I/O, so that a
	// token of any other issuer is refused before the Reviewer verifies it:
	// an unauthenticated request must cost no more than that. Its Cached is
	// the Reviewer's cache.
	Router IssuerRouter
}

// NewAuthenticator returns the caller authenticator: a client certificate
// if the connection presented one (verified in the handshake against the
// CA of verifyOpts), else a bearer token when tokens is set. Both are
// k8s.io/apiserver's request authenticators; a request with neither is
// not authenticated.
func NewAuthenticator(verifyOpts VerifyOptionsFunc, tokens *TokenOptions) authenticator.Request {
	auths := []authenticator.Request{certAuthenticator(verifyOpts)}
	if tokens != nil {
		auths = append(auths, bearertoken.New(tokenAuthenticator(*tokens)))
	}
	// As kube-apiserver does for every authenticated request, so a
	// SubjectAccessReview or a policy can name system:authenticated.
	return group.NewAuthenticatedGroupAdder(union.New(auths...))
}

// certAuthenticator maps a handshake-verified certificate with
// kube-apiserver's own conversion (CN -> user, O -> groups) and adds the URI
// SANs. The certificate is verified here, not in the TLS handshake, as
// kube-apiserver does: a certificate of another CA gets a 401 that says
// so, instead of a handshake failure the caller sees as a reset
// connection. Neither the verification nor the conversion is repeated on
// every request of a connection (see certUsers), but the certificate is
// checked against the current CA and the current time on every one, as
// kube-apiserver's x509 authenticator does: a kept-alive connection must
// not outlive its certificate, nor the CA that was removed to revoke it.
func certAuthenticator(verifyOpts VerifyOptionsFunc) authenticator.Request {
	users := newCertUsers(maxCertUsers)
	return authenticator.RequestFunc(func(r *http.Request) (*authenticator.Response, bool, error) {
		opts, ok := verifyOpts()
		if !ok || r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			return nil, false, nil
		}
		return users.user(r.TLS.PeerCertificates, opts, time.Now())
	})
}

// maxCertUsers bounds the converted certificates kept: about the number of
// callers' connections open at once; beyond it a certificate is converted
// again, which is only slower.
const maxCertUsers = 1024

// errCertNotTrusted: the certificate no longer chains to the current CA,
// or is outside its validity.
var errCertNotTrusted = errors.New("client certificate is not trusted")

// certUsers keeps the converted user of recently seen certificates, by
// pointer, with what it was verified against. crypto/tls parses a
// connection's certificates once, so every request on a kept-alive
// connection (kube-apiserver's webhook client keeps them) presents the same
// *x509.Certificate; verifying and converting it again costs a chain
// verification, a SHA-256 of the certificate (the credential ID) and half
// the allocations of the caller layer. A pointer names one parsed
// certificate, which is never modified, and being a key keeps it from
// being collected and its address reused. The cached responses are shared,
// so they are never modified either.
type certUsers struct {
	// cache holds verified users; refused holds refusals apart, so that
	// certificates anyone can make up never push a caller's user out.
	cache, refused *lru.Cache
}

// certUser is a certificate's user (nil: it did not verify), the CA pool
// it was verified against (a reloaded CA file is a new pool) and the window
// in which every certificate of its verified chain is valid. A refusal is
// remembered too, until the CA changes: a caller with a certificate of
// another CA completes the handshake (as at kube-apiserver) and must not
// cost a chain verification per request on its connection.
type certUser struct {
	resp                *authenticator.Response
	roots               *x509.CertPool
	notBefore, notAfter time.Time
}

func newCertUsers(max int) *certUsers {
	return &certUsers{cache: lru.New(max), refused: lru.New(max)}
}

// refusalTTL bounds how long a refusal is remembered: a certificate
// refused for time (a few seconds of clock skew before its NotBefore) is
// admitted on the same connection once it is valid, as kube-apiserver's
// per-request check would.
const refusalTTL = 10 * time.Second

// Bounds on the chain a caller presents, checked before it is verified:
// a made-up chain must not make each request try many large keys (crypto/x509
// tries up to 100 candidate issuers, each an RSA verification of a key the
// sender chose). A caller chain is its certificate and a few intermediates.
const (
	maxChainLength = 5
	maxRSABits     = 4096
)

func (c *certUsers) user(chain []*x509.Certificate, opts x509.VerifyOptions, now time.Time) (*authenticator.Response, bool, error) {
	if v, ok := c.cache.Get(chain[0]); ok {
		u := v.(*certUser)
		if u.roots == opts.Roots && !now.Before(u.notBefore) && !now.After(u.notAfter) {
			return u.resp, true, nil
		}
	}
	if v, ok := c.refused.Get(chain[0]); ok {
		if u := v.(*certUser); u.roots == opts.Roots && now.Before(u.notAfter) {
			return nil, false, errCertNotTrusted
		}
	}
	opts.CurrentTime = now
	verified, err := verifyBounded(chain, opts)
	if err != nil {
		c.cache.Remove(chain[0])
		c.refused.Add(chain[0], &certUser{roots: opts.Roots, notAfter: now.Add(refusalTTL)})
		return nil, false, errCertNotTrusted
	}
	resp, ok, err := convert(chain)
	if ok && err == nil {
		u := &certUser{resp: resp, roots: opts.Roots}
		u.notBefore, u.notAfter = validity(verified[0])
		c.cache.Add(chain[0], u)
	}
	return resp, ok, err
}

// verifyBounded verifies chain unless it is beyond the bounds of a caller
// chain, which is refused without a signature check.
func verifyBounded(chain []*x509.Certificate, opts x509.VerifyOptions) ([][]*x509.Certificate, error) {
	if len(chain) > maxChainLength {
		return nil, errCertNotTrusted
	}
	for _, c := range chain {
		if k, ok := c.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() > maxRSABits {
			return nil, errCertNotTrusted
		}
	}
	return verifyChain(chain, opts)
}

// verifyChain is verify; tests count its calls.
var verifyChain = verify

// validity is the window in which every certificate of chain is valid.
func validity(chain []*x509.Certificate) (notBefore, notAfter time.Time) {
	notBefore, notAfter = chain[0].NotBefore, chain[0].NotAfter
	for _, c := range chain[1:] {
		if c.NotBefore.After(notBefore) {
			notBefore = c.NotBefore
		}
		if c.NotAfter.Before(notAfter) {
			notAfter = c.NotAfter
		}
	}
	return notBefore, notAfter
}

// convert is kube-apiserver's conversion plus the URI SANs, passed through
// the same group adder as every caller: done once here, the adder of
// NewAuthenticator finds system:authenticated and passes the remembered
// user on instead of copying it on every request.
func convert(chain []*x509.Certificate) (*authenticator.Response, bool, error) {
	return group.NewAuthenticatedGroupAdder(authenticator.RequestFunc(func(*http.Request) (*authenticator.Response, bool, error) {
		return convertCert(chain)
	})).AuthenticateRequest(nil)
}

func convertCert(chain []*x509.Certificate) (*authenticator.Response, bool, error) {
	resp, ok, err := x509request.CommonNameUserConversion.User(chain)
	if !ok || err != nil {
		return nil, ok, err
	}
	if uris := chain[0].URIs; len(uris) > 0 {
		u := resp.User.(*user.DefaultInfo)
		for _, uri := range uris {
			u.Extra[URISANExtraKey] = append(u.Extra[URISANExtraKey], uri.String())
		}
	}
	return resp, true, nil
}

// tokenAuthenticator reviews a caller's own token for tokenfed's audiences
// and accepts it only from the listed issuers. A cached answer is used as
// it is; otherwise which issuers the token could reach is settled first, by
// routing alone, so a token of another issuer costs no signature check, key
// fetch or upstream call.
func tokenAuthenticator(o TokenOptions) authenticator.Token {
	return authenticator.TokenFunc(func(ctx context.Context, token string) (*authenticator.Response, bool, error) {
		if resp, ok := o.Router.Cached(token, o.Audiences); ok {
			return o.fromCallerIssuer(resp)
		}
		if !o.mayBeCallerToken(token) {
			return nil, false, nil
		}
		resp, ok, err := o.Reviewer.AuthenticateToken(authenticator.WithAudiences(ctx, o.Audiences), token)
		if !ok || err != nil {
			return nil, false, err
		}
		return o.fromCallerIssuer(resp)
	})
}

// fromCallerIssuer accepts an answer only from the listed issuers.
func (o TokenOptions) fromCallerIssuer(resp *authenticator.Response) (*authenticator.Response, bool, error) {
	issuer := mapping.ExtraValue(resp.User, mapping.IssuerExtraKey)
	if len(issuer) != 1 || !slices.Contains(o.Issuers, issuer[0]) {
		return nil, false, nil
	}
	return resp, true, nil
}

// mayBeCallerToken reports whether every issuer token could be routed to
// is one whose tokens may be caller credentials.
func (o TokenOptions) mayBeCallerToken(token string) bool {
	issuers := o.Router.IssuersOf(token)
	if len(issuers) == 0 {
		return false
	}
	for _, is := range issuers {
		if !slices.Contains(o.Issuers, is) {
			return false
		}
	}
	return true
}
