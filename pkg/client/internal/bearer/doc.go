// Package bearer is what the HTTP and gRPC middlewares share: reading an
// RFC 6750 bearer token from an Authorization field, checking it with an
// authenticator.Token for a service's audiences, and putting the user into
// the context as k8s.io/apiserver does, and optionally limiting per client
// the tokens checked without success. Each middleware maps the Outcome to
// its own protocol's status.
package bearer
