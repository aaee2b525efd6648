package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/staticissuer"
)

// want is the answer a request must get.
type want struct {
	code          int
	authenticated bool
	// username and extra (a subset of the answer's extras) are checked
	// when authenticated.
	username string
	extra    map[string]string
}

// request is one review to send.
type request struct {
	path string
	body []byte
	// token must never come back in the answer; "" when there is none.
	token string
	// apiVersion the answer must carry (200 answers only).
	apiVersion string
	want       want
}

// class is one kind of review in the mix.
type class struct {
	name string
	// what says what the class sends, for the report.
	what string
	// weight is the class's share of the rate, in slots of the schedule.
	weight int
	// shapes is how many distinct forms make(n) cycles through (n mod
	// shapes), so that preflight can send each once.
	shapes int
	// make builds the n-th request of the class (n counts this class's
	// requests) in API version v.
	make func(n int64, v apiVersion) (request, error)
}

// apiVersion is how a request is sent: the TokenReview version and the
// path. Requests rotate through all three, as callers differ.
type apiVersion struct{ version, path string }

var apiVersions = []apiVersion{
	{"authentication.k8s.io/v1", "/apis/authentication.k8s.io/v1/tokenreviews"},
	{"authentication.k8s.io/v1beta1", "/apis/authentication.k8s.io/v1beta1/tokenreviews"},
	// kube-apiserver's webhook default: v1beta1, the version in the body.
	{"authentication.k8s.io/v1beta1", "/authenticate"},
}

// Extras of a pod-bound service-account token (DESIGN.md, Identity).
const podNameExtra = "authentication.kubernetes.io/pod-name"

// cachedPoolStatic and cachedPoolHub size the cached class: a few tokens,
// repeated, so that nearly every review of the class is a cache hit (a
// miss every cache.successTTL, 2 minutes, for each).
const cachedPoolStatic, cachedPoolHub = 8, 2

// newClasses builds the mix: 120 cached, 60 uncached, 30 upstream, 45
// garbage and 45 unknown-issuer reviews a second at the default 300 req/s.
func newClasses(ctx context.Context, e *env) ([]*class, error) {
	cached, err := cachedClass(ctx, e)
	if err != nil {
		return nil, err
	}
	return []*class{
		cached,
		uncachedClass(e.static),
		upstreamClass(ctx, e),
		garbageClass(e.static),
		unknownIssuerClass(),
	}, nil
}

// pooled is one token of the cached pool and who it must be.
type pooled struct {
	token string
	want  want
}

func cachedClass(ctx context.Context, e *env) (*class, error) {
	var pool []pooled
	for i := range cachedPoolStatic {
		sa := fmt.Sprintf("cached-%d", i)
		tok, err := e.static.Token(staticissuer.Claims{Namespace: soakNS, ServiceAccount: sa})
		if err != nil {
			return nil, err
		}
		pool = append(pool, pooled{tok, authenticated(e.static.Username(soakNS, sa), nil)})
	}
	for range cachedPoolHub {
		tok, err := hubToken(ctx, e)
		if err != nil {
			return nil, err
		}
		pool = append(pool, pooled{tok, hubWant(e)})
	}
	return &class{name: "cached", weight: 8, what: fmt.Sprintf("%d static-issuer and %d hub tokens, repeated", cachedPoolStatic, cachedPoolHub), shapes: len(pool), make: func(n int64, v apiVersion) (request, error) {
		p := pool[n%int64(len(pool))]
		return review(v, p.token, p.want), nil
	}}, nil
}

// uncachedClass: a fresh token of the static issuer each time, verified
// locally (ES256) and cached until it drops out.
func uncachedClass(is *staticissuer.Issuer) *class {
	w := authenticated(is.Username(soakNS, freshSA), nil)
	return &class{name: "uncached", weight: 4, what: "a fresh static-issuer token each time (ES256, verified locally)", shapes: 1, make: func(_ int64, v apiVersion) (request, error) {
		tok, err := is.Token(staticissuer.Claims{Namespace: soakNS, ServiceAccount: freshSA})
		return review(v, tok, w), err
	}}
}

// upstreamClass: a fresh pod-bound token from the hub's TokenRequest API
// each time; tokenfed verifies it and has the hub confirm it (policy
// always), a real TokenReview on the hub per request.
func upstreamClass(ctx context.Context, e *env) *class {
	w := hubWant(e)
	return &class{name: "upstream", weight: 2, what: "a fresh pod-bound hub token each time (TokenRequest), confirmed by the hub's TokenReview", shapes: 1, make: func(_ int64, v apiVersion) (request, error) {
		tok, err := hubToken(ctx, e)
		return review(v, tok, w), err
	}}
}

func hubToken(ctx context.Context, e *env) (string, error) {
	return e.hub.CreateToken(ctx, soakNS, upstreamSA, controlplane.TokenOptions{
		BoundPod: &controlplane.BoundObject{Name: e.pod.Name, UID: e.pod.UID},
	})
}

func hubWant(e *env) want {
	return authenticated("hub:system:serviceaccount:"+soakNS+":"+upstreamSA, map[string]string{podNameExtra: e.pod.Name})
}

// garbageClass cycles through malformed or invalid tokens (200,
// authenticated false) and malformed requests (400, DESIGN.md "Outcomes").
// The forged and the expired tokens are fresh each time: each costs a
// signature check and is cached as a failure, so together (about 13 a
// second at the default rate) they fill the cache's failure segment
// (maxEntries/4) within the first half, and keep it evicting after.
func garbageClass(is *staticissuer.Issuer) *class {
	shapes := []func(v apiVersion) (request, error){
		func(v apiVersion) (request, error) { return review(v, "garbage-not-a-token", refused()), nil },
		func(v apiVersion) (request, error) {
			return review(v, "eyJhbGciOiJFUzI1NiJ9.not%base64.###", refused()), nil
		},
		func(v apiVersion) (request, error) {
			tok, err := is.Token(staticissuer.Claims{Namespace: soakNS, ServiceAccount: freshSA})
			return review(v, forge(tok), refused()), err
		},
		func(v apiVersion) (request, error) {
			tok, err := is.Token(staticissuer.Claims{Namespace: soakNS, ServiceAccount: freshSA, Expiry: time.Now().Add(-time.Hour)})
			return review(v, tok, refused()), err
		},
		func(v apiVersion) (request, error) {
			return raw(v, []byte(`{"apiVersion":"`+v.version+`","kind":"TokenReview","spec":`)), nil
		},
		func(v apiVersion) (request, error) {
			return raw(v, []byte(`{"apiVersion":"`+v.version+`","kind":"SubjectAccessReview","spec":{"token":"x"}}`)), nil
		},
		func(v apiVersion) (request, error) {
			return raw(v, []byte(`{"apiVersion":"`+v.version+`","kind":"TokenReview","spec":{}}`)), nil
		},
	}
	return &class{name: "garbage", weight: 3, what: "not a JWT; bad base64; forged signature, expired (fresh ones); bad JSON, wrong kind, no token (400)", shapes: len(shapes), make: func(n int64, v apiVersion) (request, error) {
		return shapes[n%int64(len(shapes))](v)
	}}
}

// forge changes one character in the middle of the signature: the token
// still parses and routes to its issuer, and fails the signature check.
func forge(token string) string {
	b := []byte(token)
	i := len(b) - 20
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// unknownIssuerClass: well-formed, unsigned tokens of an issuer nobody
// configured, a different one each time; refused on the iss alone.
func unknownIssuerClass() *class {
	enc := base64.RawURLEncoding.EncodeToString
	return &class{name: "unknown issuer", weight: 3, what: "an unsigned JWT of a different unknown iss each time", shapes: 1, make: func(n int64, v apiVersion) (request, error) {
		tok := enc([]byte(`{"alg":"ES256","kid":"k"}`)) + "." +
			enc([]byte(fmt.Sprintf(`{"iss":"https://nobody-%d.example","sub":"x","aud":["x"],"exp":4102444800}`, n))) + "." + enc([]byte("sig"))
		return review(v, tok, refused()), nil
	}}
}

func authenticated(username string, extra map[string]string) want {
	return want{code: http.StatusOK, authenticated: true, username: username, extra: extra}
}

func refused() want { return want{code: http.StatusOK} }

// review is a well-formed TokenReview of token.
func review(v apiVersion, token string, w want) request {
	body, _ := json.Marshal(map[string]any{
		"apiVersion": v.version, "kind": "TokenReview",
		"spec": map[string]any{"token": token},
	})
	return request{path: v.path, body: body, token: token, apiVersion: v.version, want: w}
}

// raw is a malformed request, which must get a 400.
func raw(v apiVersion, body []byte) request {
	return request{path: v.path, body: body, want: want{code: http.StatusBadRequest}}
}
