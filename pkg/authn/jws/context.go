package jws

import "context"

type parsedKey struct{}

// WithParsed returns ctx carrying t, so that a verifier reached through an
// interface that takes the raw token (go-oidc's KeySet, as kube-apiserver's
// JWT authenticator calls it) uses the parse already made.
func WithParsed(ctx context.Context, t *Token) context.Context {
	return context.WithValue(ctx, parsedKey{}, t)
}

// ParseOnce returns the parse of raw that ctx carries, or parses raw.
func ParseOnce(ctx context.Context, raw string) (*Token, error) {
	if t, ok := ctx.Value(parsedKey{}).(*Token); ok && t.Raw == raw {
		return t, nil
	}
	return Parse(raw)
}
