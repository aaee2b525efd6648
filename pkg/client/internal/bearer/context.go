package bearer

import (
	"context"

	"k8s.io/apiserver/pkg/authentication/authenticator"
)

// audiencesKey is one key for both middlewares, so a handler shared by an
// HTTP and a gRPC server reads the audiences with either accessor.
type audiencesKey struct{}

func withTokenAudiences(ctx context.Context, auds authenticator.Audiences) context.Context {
	return context.WithValue(ctx, audiencesKey{}, auds)
}

// TokenAudiencesFrom returns the audiences the request's token was accepted
// for, as a Checker stored them.
func TokenAudiencesFrom(ctx context.Context) (authenticator.Audiences, bool) {
	auds, ok := ctx.Value(audiencesKey{}).(authenticator.Audiences)
	return auds, ok
}
