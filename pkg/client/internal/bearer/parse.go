package bearer

import "strings"

// Problem is why a request carries no bearer token to check. Its
// Description may be sent to the client: it never quotes the credentials,
// and it keeps to the characters RFC 6750 §3 allows in error_description.
type Problem struct {
	// Malformed marks a request that is malformed (RFC 6750 invalid_request:
	// HTTP 400) rather than one without bearer credentials (HTTP 401 with no
	// error code).
	Malformed bool
	// Description says what is wrong, for the client.
	Description string
}

func (p *Problem) Error() string { return p.Description }

// The problems Token reports. Only the header (metadata) method of RFC 6750
// §2.1 is read; see Token.
var (
	// ErrNoCredentials: no Authorization field at all. RFC 6750 §3.1: a
	// client that did not know authentication was needed gets a challenge
	// and no error code.
	ErrNoCredentials = &Problem{Description: "no credentials"}
	// ErrOtherScheme: credentials of a scheme other than Bearer, which is
	// "attempted using an unsupported authentication method" (§3.1), again
	// no error code.
	ErrOtherScheme = &Problem{Description: "credentials of a scheme other than Bearer"}
	// ErrRepeated: more than one Authorization field. Which one counts is
	// ambiguous (a proxy may have added one), so the request is refused
	// rather than the first one taken.
	ErrRepeated = &Problem{Malformed: true, Description: "more than one Authorization field"}
	// ErrEmpty: an Authorization field with no credentials in it.
	ErrEmpty = &Problem{Malformed: true, Description: "empty Authorization field"}
	// ErrBadScheme: the part before the first space is not an auth-scheme
	// token (RFC 7235 §2.1), e.g. "Bearer<TAB>token".
	ErrBadScheme = &Problem{Malformed: true, Description: "malformed credentials"}
	// ErrNoToken: "Bearer" and nothing after it.
	ErrNoToken = &Problem{Malformed: true, Description: "Bearer credentials without a token"}
	// ErrBadToken: what follows "Bearer " is not one b64token: a second
	// token, a comma, or a character outside the b64token set.
	ErrBadToken = &Problem{Malformed: true, Description: "the bearer token is not a single b64token"}
)

// Token returns the bearer token of the values of a request's
// Authorization header field (or gRPC "authorization" metadata), as
// RFC 6750 §2.1 defines it:
//
//	credentials = "Bearer" 1*SP b64token
//	b64token    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//
// The scheme is matched case-insensitively (RFC 7235 §2.1). Spaces and
// tabs around the whole value are not part of it (RFC 7230 §3.2.4); net/http
// strips them already, gRPC metadata does not. Exactly one value must be
// given. On failure the *Problem says whether the request is malformed.
func Token(values []string) (string, *Problem) {
	switch len(values) {
	case 0:
		return "", ErrNoCredentials
	case 1:
	default:
		return "", ErrRepeated
	}
	v := strings.Trim(values[0], " \t")
	if v == "" {
		return "", ErrEmpty
	}
	scheme, rest, _ := strings.Cut(v, " ")
	if !isToken(scheme) {
		return "", ErrBadScheme
	}
	if !strings.EqualFold(scheme, "Bearer") {
		return "", ErrOtherScheme
	}
	token := strings.TrimLeft(rest, " ")
	if token == "" {
		return "", ErrNoToken
	}
	if !isB64Token(token) {
		return "", ErrBadToken
	}
	return token, nil
}

// isB64Token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		if c := body[i]; !isAlnum(c) && !strings.ContainsRune("-._~+/", rune(c)) {
			return false
		}
	}
	return true
}

// isToken: 1*tchar (RFC 7230 §3.2.6).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
