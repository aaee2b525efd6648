package kubeconfig

import (
	"strings"
	"testing"
)

// TestServerErrorsNeverRepeatTheURL: no error about --server repeats it,
// nor any part of it: not the password of user information, checked
// before the scheme and the host, not one that url.Parse misplaces (a
// password with "/", "?" or "#" in it), and not a query, which may hold a
// token.
func TestServerErrorsNeverRepeatTheURL(t *testing.T) {
	const secret = "hunter2-s3cret"
	for _, server := range []string{
		"http://admin:" + secret + "@tokenfed.example:8443",
		"https://admin:" + secret + "@/authenticate",
		"https://admin:" + secret + "@tokenfed.example",
		"https://admin:" + secret + "/x@tokenfed.example:8443",
		"https://admin:1234/" + secret + "@tokenfed.example",
		"https://admin:" + secret + "?@tokenfed.example",
		"https://admin:" + secret + "#@tokenfed.example",
		"https:admin:" + secret + "@tokenfed.example",
		"admin:" + secret + "@tokenfed.example:8443",
		"//admin:" + secret + "@tokenfed.example",
		"https://tokenfed.example/authenticate?token=" + secret,
		"https://tokenfed.example/authenticate#" + secret,
		"http://tokenfed.example/" + secret,
		"https://tokenfed.example:" + secret,
		"https://tokenfed.example/%zz" + secret,
		"ftp://" + secret,
		"https:///" + secret,
	} {
		_, err := Generate(Options{Server: server})

		if err == nil {
			t.Errorf("--server %s: got no error", server)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("got error %q, which repeats the URL", err)
		}
	}
}
