// Package authn is tokenfed's authentication chain: result cache -> route
// (pick the one issuer by the unverified iss/kid) -> that issuer's
// verifier and upstream -> identity mapping. Every link is an
// authenticator.Token-like decorator that does one thing.
package authn
