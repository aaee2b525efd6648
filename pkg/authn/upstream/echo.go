package upstream

import (
	"fmt"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
)

// minQuote is the shortest part of a token that counts as quoting it.
const minQuote = 16

// errQuotedToken is an authenticated answer whose user quotes the token: it
// would put the token into tokenfed's answer and logs. Only a broken or
// hostile cluster does it, and it says nothing reliable about the token.
var errQuotedToken = fmt.Errorf("%w: answer quoted the token", ErrUnavailable)

// quotesToken reports whether any user field of st holds minQuote bytes of
// token. It runs once per upstream call, never on a cached answer.
func quotesToken(st *authenticationv1.TokenReviewStatus, token string) bool {
	fields := append([]string{st.User.Username, st.User.UID}, st.User.Groups...)
	for k, vs := range st.User.Extra {
		fields = append(append(fields, k), vs...)
	}
	for _, f := range fields {
		for i := 0; i+minQuote <= len(f); i++ {
			if strings.Contains(token, f[i:i+minQuote]) {
				return true
			}
		}
	}
	return false
}
