// Package authtest is what the httpauth and grpcauth tests share: a token
// authenticator that answers as tokenfed's client would, decided by the
// token it is given, and a TestMain that scans every log for the tokens.
package authtest

import (
	"context"
	"fmt"
	"sync/atomic"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/tokenfed/tokenfed/pkg/testing/secretscan"
)

// The audiences in the tests: the service's own, and another service's.
const (
	Audience      = "https://orders.example"
	OtherAudience = "https://billing.example"
)

// UserName is the user of every accepted token: as tokenfed names a
// service account of the issuer "edge".
const UserName = "edge:system:serviceaccount:ns:orders"

// The tokens Authenticator knows. Each is long enough for secretscan to
// recognise any part of it, and registered by Main.
const (
	// Good is valid for Audience.
	Good = "good.Zm9yLW9yZGVycy1leGFtcGxl.c2lnbmF0dXJlLWdvb2Q"
	// ForOther is valid for OtherAudience only; the authenticator honours
	// the requested audiences, as tokenfed does.
	ForOther = "other.Zm9yLWJpbGxpbmctZXhhbXBsZQ.c2lnbmF0dXJlLW90aGVy"
	// Deaf is accepted by an authenticator that ignores the requested
	// audiences and names the token's own, OtherAudience.
	Deaf = "deaf.aWdub3Jlcy1hdWRpZW5jZXMtYXNrZWQ.c2lnbmF0dXJlLWRlYWY"
	// Unaware is accepted with no audiences named at all.
	Unaware = "unaware.bm8tYXVkaWVuY2VzLW5hbWVk.c2lnbmF0dXJlLXVuYXdhcmU"
	// Rejected is judged not valid.
	Rejected = "rejected.bm90LXZhbGlkLWF0LWFsbA.c2lnbmF0dXJlLXJlamVjdGVk"
	// Outage makes the authenticator fail, with an error that quotes it,
	// as a careless library might.
	Outage = "outage.dG9rZW5mZWQtdW5hdmFpbGFibGU.c2lnbmF0dXJlLW91dGFnZQ"
	// NoUser is accepted with no user: a broken authenticator.
	NoUser = "nouser.YWNjZXB0ZWQtd2l0aC1uby11c2Vy.c2lnbmF0dXJlLW5vdXNlcg"
)

// Tokens are all of the above.
var Tokens = []string{Good, ForOther, Deaf, Unaware, Rejected, Outage, NoUser}

// Authenticator answers by token, and counts the calls.
type Authenticator struct {
	calls atomic.Int64
}

var _ authenticator.Token = &Authenticator{}

// Calls is the number of tokens checked so far.
func (a *Authenticator) Calls() int64 { return a.calls.Load() }

// AuthenticateToken implements authenticator.Token.
func (a *Authenticator) AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	a.calls.Add(1)
	asked, ok := authenticator.AudiencesFrom(ctx)
	switch token {
	case Good, ForOther:
		if !ok {
			return nil, false, fmt.Errorf("authtest: no audiences asked for")
		}
		aud := Audience
		if token == ForOther {
			aud = OtherAudience
		}
		if got := asked.Intersect(authenticator.Audiences{aud}); len(got) > 0 {
			return &authenticator.Response{User: testUser(), Audiences: got}, true, nil
		}
		return nil, false, nil
	case Deaf:
		return &authenticator.Response{User: testUser(), Audiences: authenticator.Audiences{OtherAudience}}, true, nil
	case Unaware:
		return &authenticator.Response{User: testUser()}, true, nil
	case Outage:
		return nil, false, fmt.Errorf("tokenfed unavailable: connection refused reviewing %s", token)
	case NoUser:
		return &authenticator.Response{Audiences: asked}, true, nil
	}
	return nil, false, nil
}

func testUser() user.Info {
	return &user.DefaultInfo{
		Name: UserName, UID: "uid-1",
		Groups: []string{"edge:system:serviceaccounts", "edge:system:serviceaccounts:ns"},
		Extra:  map[string][]string{"tokenfed.io/issuer": {"edge"}},
	}
}

func init() {
	for _, tok := range Tokens {
		secretscan.Register(tok, "authtest")
	}
}
