// Package httpauth is net/http middleware that protects an application's
// own API with bearer tokens checked by tokenfed (or by any
// k8s.io/apiserver authenticator.Token).
//
//	tf, err := client.New(...) // tokenfed's Go client, an authenticator.Token
//	if err != nil { ... }
//	mw, err := httpauth.New(httpauth.Options{
//		Authenticator: tf,
//		Audiences:     []string{"https://orders.example.com"},
//		Realm:         "orders",
//	})
//	if err != nil { ... }
//	http.Handle("/orders/", mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
//		u, _ := request.UserFrom(r.Context()) // k8s.io/apiserver/pkg/endpoints/request
//		fmt.Fprintf(w, "hello %s\n", u.GetName())
//	})))
//
// On success the user is in the request's context exactly where
// k8s.io/apiserver's authentication filter puts it (request.WithUser), so
// request.UserFrom and k8s.io/apiserver authorizers work unchanged, and the
// audiences the token was accepted for are in TokenAudiencesFrom. The
// Authorization field is removed before the handler runs.
//
// # Reading the token
//
// Only the Authorization request header field of RFC 6750 §2.1 is read:
//
//	Authorization: Bearer <b64token>
//
// with the scheme in any case, one or more spaces before the token, and
// exactly one Authorization field. The form-body and URI-query methods
// (§2.2, §2.3) are not supported: a token in a URL ends up in access logs,
// proxy logs, browser history and Referer headers, and one in a body in
// request dumps; §2.3 itself says the query method should not be used.
//
// # Answers
//
// RFC 6750 §3 and §3.1 decide which failures are a malformed request (400)
// and which are a missing or bad credential (401):
//
//	request                                       status  WWW-Authenticate error
//	no Authorization field                        401     none (challenge only)
//	credentials of another scheme ("Basic ...")   401     none (challenge only)
//	access_token only in the query                401     none (not a method read here)
//	two or more Authorization fields              400     invalid_request
//	empty Authorization field                     400     invalid_request
//	malformed scheme ("Bearer<TAB>t")             400     invalid_request
//	"Bearer" without a token                      400     invalid_request
//	two tokens, or a character outside b64token   400     invalid_request
//	Authorization field and access_token query    400     invalid_request (two methods)
//	token rejected, or not for Audiences          401     invalid_token
//	authenticator error (tokenfed unavailable,    503     none; Retry-After
//	  or refusing this app)
//	client over its ClientLimit (if set)          429     none; Retry-After
//	accepted, but not an identity (a bug)         500     none
//
// A request with no credentials, or with credentials of a scheme this
// middleware does not speak, is one whose client "attempted using an
// unsupported authentication method" or "was unaware that authentication
// is necessary" (§3.1): it gets a bare challenge, so that it can try
// bearer credentials. A request that does use the Authorization field but
// not in the form §2.1 defines is malformed (§3.1 invalid_request: "is
// otherwise malformed", "uses more than one method"); with two fields or
// two tokens it is ambiguous which one counts, and a server that picks one
// may disagree with a proxy that checked the other. A well-formed token the
// authenticator does not accept is invalid_token.
//
// When the authenticator returns an error the token was not judged, so the
// answer is 503 with Retry-After, never 401: a client that discards its
// token on 401 would discard a good one. The Retry-After is the error's
// own when it carries one (a RetryAfter time.Duration field anywhere in
// its chain, as pkg/client's CallerRefusedError has for tokenfed's 429),
// else Options.RetryAfter. The error is not shown to the client, and its
// text is not logged either: a library under the authenticator may quote
// the token in it, whole, in part or escaped, which no scrubber can
// recognise for every token. The log has its Go types, a fixed word for a
// timeout or a system call error, and its Code and RetryAfter fields.
//
// An answer that accepts the token must name a user: no answer, no user
// (or a nil one), a user whose name is empty or blank, the anonymous user
// (system:anonymous, or a member of system:unauthenticated), or an answer
// any of whose text (name, UID, groups, extra, audiences) quotes the
// token, is a bug in the authenticator, never a success: 500, and the
// handler does not run.
//
// Descriptions are this package's own fixed words: they never contain the
// token or the authenticator's error, and keep to the characters §3
// allows in error_description.
//
// # Clients that make tokens up
//
// Every token the middleware cannot refuse by its form is a review at
// tokenfed, charged to this application's own rate there (its caller
// rate). A client that sends made-up tokens, each one different so that
// no cache helps, spends that rate; once it is spent tokenfed answers the
// application 429, and every request, of every real user, is answered 503
// (with tokenfed's Retry-After) until it refills.
//
// Options.ClientLimit bounds what one client can spend: it counts, per
// client (by default its IP address, an IPv6 one by /64), the tokens that
// were checked and not accepted, and once a client has used its Burst it
// is answered 429 without its token being checked, until it has earned a
// failure back at Rate. Clients whose tokens are accepted are never
// counted. What it cannot do:
//   - bound the number of clients: an attacker with many addresses (a
//     botnet, IPv6 addresses from many /64s) or many attackers at once
//     still spend the rate. Size the application's rate at tokenfed for
//     its real traffic plus Rate times the clients expected, and put a
//     per-address or global limit in front (a reverse proxy, or
//     golang.org/x/time/rate around Wrap) where that is not enough;
//   - tell clients apart behind a proxy or a NAT, which share one key:
//     one of them spending the Burst makes the others wait too. Behind a
//     reverse proxy, set ClientLimit.Key to the client address the proxy
//     itself puts in a header, never a header the client can send;
//   - stop requests already in flight when a client runs out: they are
//     charged when they end, as debt the client then waits out.
//
// tokenfed's own client (pkg/client) keeps the rest cheap: with its cache
// on, a token it has already answered is not asked about again.
//
// # Why not k8s.io/apiserver's bearertoken
//
// k8s.io/apiserver/pkg/authentication/request/bearertoken reads the token
// for kube-apiserver, which has other authenticators after it; its lenient
// reading suits that role but not a service's only door:
//   - it takes the first of several Authorization fields (Header.Get);
//   - it takes "Bearer a b" as the token "a" and ignores the rest, and
//     checks no character set;
//   - it turns "not authenticated" into an error, so a rejected token and
//     an unreachable tokenfed look the same, and the caller cannot answer
//     401 for one and 503 for the other;
//   - it answers every malformation as "no credentials", never 400.
//
// So the token is read by a small parser shared with grpcauth, and only
// the behaviour worth keeping is kept: the case-insensitive scheme and
// deleting the Authorization field once the token is accepted.
//
// # With k8s.io/apiserver's webhook authenticator
//
// plugin/pkg/authenticator/token/webhook (what kube-apiserver uses to call
// tokenfed) works as the Authenticator. Give it no implicit audiences:
// with implicit audiences that include one of Audiences, a token tokenfed
// rejects comes back as an error (and would be answered 503); without
// them, as (nil, false, nil). Mind its logs:
// client-go logs each request body, the token included, at -v=8 and above,
// from the context's logger. Run below -v=8, or wrap it in an
// authenticator.TokenFunc that calls it with
// logr.NewContext(ctx, logr.Discard()) (klog's contextual logging must be
// on, as it is by default).
package httpauth
