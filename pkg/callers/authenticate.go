package callers

import (
	"context"
	"net/http"
	"slices"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/request/union"
	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/tokenfed/tokenfed/pkg/mapping"
)

// URISANExtraKey carries a caller certificate's URI SANs (SPIFFE IDs and
// the like), so policies can match them.
const URISANExtraKey = "tokenfed.io/uri-san"

// TokenOptions configure caller tokens.
type TokenOptions struct {
	// Reviewer is tokenfed's own chain; its cache makes a caller's repeated
	// token cost one lookup.
	Reviewer authenticator.Token
	// Audiences: the token must be valid for one (tokenfed's own).
	Audiences authenticator.Audiences
	// Issuers whose tokens may be caller credentials, by name.
	Issuers []string
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
	return union.New(auths...)
}

// certAuthenticator maps a handshake-verified certificate with
// kube-apiserver's own conversion (CN -> user, O -> groups) and adds the URI
// SANs. Verification is not repeated per request: callers.VerifyConnection
// did it once for the connection, which the review benchmark needs.
func certAuthenticator(verifyOpts VerifyOptionsFunc) authenticator.Request {
	return authenticator.RequestFunc(func(r *http.Request) (*authenticator.Response, bool, error) {
		if _, ok := verifyOpts(); !ok || r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			return nil, false, nil
		}
		resp, ok, err := x509request.CommonNameUserConversion.User(r.TLS.PeerCertificates)
		if !ok || err != nil {
			return nil, ok, err
		}
		if uris := r.TLS.PeerCertificates[0].URIs; len(uris) > 0 {
			u := resp.User.(*user.DefaultInfo)
			for _, uri := range uris {
				u.Extra[URISANExtraKey] = append(u.Extra[URISANExtraKey], uri.String())
			}
		}
		return resp, true, nil
	})
}

// tokenAuthenticator reviews a caller's own token for tokenfed's audiences
// and accepts it only from the listed issuers.
func tokenAuthenticator(o TokenOptions) authenticator.Token {
	return authenticator.TokenFunc(func(ctx context.Context, token string) (*authenticator.Response, bool, error) {
		resp, ok, err := o.Reviewer.AuthenticateToken(authenticator.WithAudiences(ctx, o.Audiences), token)
		if !ok || err != nil {
			return nil, false, err
		}
		issuer := resp.User.GetExtra()[mapping.IssuerExtraKey]
		if len(issuer) != 1 || !slices.Contains(o.Issuers, issuer[0]) {
			return nil, false, nil
		}
		return resp, true, nil
	})
}
