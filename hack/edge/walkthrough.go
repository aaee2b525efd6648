package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// Token files the walkthrough writes in dir. They are never printed.
const (
	deviceToken = "device.token" // device-1, for the edge API, unbound
	otherToken  = "other.token"  // device-1, for another service
	boundToken  = "bound.token"  // device-1, for the edge API, bound to a Secret
	hubReview   = "hub-review.json"
	// bindingSecret is the object boundToken lives and dies with.
	bindingSecret = "device-1-credential"
)

func (e *env) run(ctx context.Context) error {
	fmt.Printf("==> the edge story: commands run in %s, with the tokenfed and device binaries on the PATH\n", e.dir)
	// exec looks commands up in this process's PATH.
	if err := os.Setenv("PATH", e.pathDirs()+string(os.PathListSeparator)+os.Getenv("PATH")); err != nil {
		return err
	}
	if err := e.startHub(ctx); err != nil {
		return err
	}
	if err := e.steps(ctx, e.identities()); err != nil {
		return err
	}
	if err := e.startTokenfed(ctx); err != nil {
		return err
	}
	if err := e.startEdgeAPI(); err != nil {
		return err
	}
	if err := e.steps(ctx, e.deviceCalls()); err != nil {
		return err
	}
	if err := e.boundRevocation(ctx); err != nil {
		return err
	}
	return e.deletedServiceAccount(ctx)
}

// identities creates the edge API's and the device's service accounts on
// the hub, and the edge API's caller token.
func (e *env) identities() []step {
	return []step{
		{title: "On the hub: the edge API's service account, and the device's", argv: e.kubectl("create", "namespace", edgeNamespace), want: exits(0)},
		{argv: e.kubectl("-n", edgeNamespace, "create", "serviceaccount", edgeSA), want: exits(0)},
		{argv: e.kubectl("create", "namespace", devices), want: exits(0)},
		{argv: e.kubectl("-n", devices, "create", "serviceaccount", device1), want: exits(0)},
		{title: "The edge API's own token, minted for tokenfed's audience: its caller credential",
			argv: e.kubectl("-n", edgeNamespace, "create", "token", edgeSA, "--audience", callerAudience, "--duration", "1h"),
			want: exits(0), saveTo: callerTokenFile},
	}
}

// deviceCalls: a device token for the edge API works over HTTPS and gRPC;
// one for another audience is refused; tokenfed review says the same.
func (e *env) deviceCalls() []step {
	return []step{
		{title: "Mint device-1 a token for the edge API's audience, valid 10 minutes (TokenRequest expirationSeconds: 600)",
			argv: e.kubectl("-n", devices, "create", "token", device1, "--audience", edgeAudience, "--duration", "10m"),
			want: exits(0), saveTo: deviceToken},
		{title: "The device presents it over HTTPS and gRPC; the edge API asks tokenfed, and knows who it is",
			argv: e.deviceArgs(deviceToken), want: exits(0, "HTTP  200 OK: user="+deviceUser, "issuer=hub", "gRPC  OK: user="+deviceUser)},
		{title: "A token of the same device minted for another service is refused: 401 with a Bearer challenge, gRPC Unauthenticated",
			argv: e.kubectl("-n", devices, "create", "token", device1, "--audience", otherAudience, "--duration", "10m"),
			want: exits(0), saveTo: otherToken},
		{argv: e.deviceArgs(otherToken), want: exits(1, `HTTP  401 Unauthorized: WWW-Authenticate: Bearer realm="edge", error="invalid_token"`, "gRPC  Unauthenticated")},
		{title: "The question the edge API asks, on the command line: tokenfed review, as the edge API (exit 0, then 1)",
			argv: e.review(deviceToken), want: exits(0, "authenticated: "+deviceUser, "audiences: "+edgeAudience, "extra: tokenfed.io/issuer=hub")},
		{argv: e.review(otherToken), want: exits(1, "not authenticated")},
	}
}

// boundRevocation: a token bound to a Secret is confirmed with the hub
// (whenBound), so deleting the Secret revokes it at tokenfed too, once the
// caches have let go of the last answer.
func (e *env) boundRevocation(ctx context.Context) error {
	err := e.steps(ctx, []step{
		{title: "Revocation: a token bound to a Secret lives and dies with it; tokenfed confirms bound tokens with the hub (whenBound)",
			argv: e.kubectl("-n", devices, "create", "secret", "generic", bindingSecret), want: exits(0)},
		{argv: e.kubectl("-n", devices, "create", "token", device1, "--audience", edgeAudience, "--duration", "10m",
			"--bound-object-kind", "Secret", "--bound-object-name", bindingSecret), want: exits(0), saveTo: boundToken},
		{argv: e.deviceHTTP(boundToken), want: exits(0, "HTTP  200 OK: user="+deviceUser)},
	})
	if err != nil {
		return err
	}
	deleted := time.Now()
	err = e.steps(ctx, []step{
		{title: fmt.Sprintf("Delete the Secret; the device keeps calling. The hub caches an authenticated token for %s, tokenfed for cache.successTTL (%s here)", hubTokenCacheTTL, successTTL),
			argv: e.kubectl("-n", devices, "delete", "secret", bindingSecret), want: exits(0)},
		{argv: e.deviceHTTP(boundToken, "--count", "15", "--interval", "2s", "--until-refused"),
			want: exits(1, "HTTP  401 Unauthorized")},
	})
	if err != nil {
		return err
	}
	say("the bound token was refused %s after its Secret was deleted", time.Since(deleted).Round(100*time.Millisecond))
	return nil
}

// deletedServiceAccount: an unbound token is verified locally under
// whenBound, so deleting its ServiceAccount does not revoke it at tokenfed
// before its exp, although the hub itself refuses it.
func (e *env) deletedServiceAccount(ctx context.Context) error {
	err := e.steps(ctx, []step{{
		title: "What revocation does not cover: delete the ServiceAccount; the hub itself refuses its unbound token at once",
		argv:  e.kubectl("-n", devices, "delete", "serviceaccount", device1), want: exits(0),
	}})
	if err != nil {
		return err
	}
	if err := e.writeHubReview(); err != nil {
		return err
	}
	err = e.steps(ctx, []step{{
		argv: e.kubectl("create", "-f", hubReview, "-o", "jsonpath={.status.error}{\"\\n\"}"),
		want: exits(0, `serviceaccounts "`+device1+`" not found`),
	}})
	if err != nil {
		return err
	}
	// Past tokenfed's cache of the last answer: the next one is a fresh
	// local verification.
	time.Sleep(successTTL)
	err = e.steps(ctx, []step{{
		title: "but tokenfed, under whenBound, checks an unbound token locally (signature, issuer, audience, exp): it stays valid until its exp, 10 minutes here",
		argv:  e.deviceHTTP(deviceToken), want: exits(0, "HTTP  200 OK: user="+deviceUser),
	}})
	if err != nil {
		return err
	}
	say("so: keep device tokens short-lived (expirationSeconds), bind them to an object you can delete, or use upstream policy always (docs/edge.md)")
	return nil
}

// writeHubReview writes a TokenReview of deviceToken for the edge
// audience, for kubectl to post to the hub.
func (e *env) writeHubReview() error {
	token, err := os.ReadFile(filepath.Join(e.dir, deviceToken))
	if err != nil {
		return err
	}
	review := fmt.Sprintf(`{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":%q,"audiences":[%q]}}`, string(token), edgeAudience)
	if err := os.WriteFile(filepath.Join(e.dir, hubReview), []byte(review), 0o600); err != nil {
		return err
	}
	fmt.Printf("  (%s: a TokenReview of %s for %s, to ask the hub itself)\n", hubReview, deviceToken, edgeAudience)
	return nil
}

func (e *env) kubectl(args ...string) []string {
	return append([]string{"kubectl", "--kubeconfig", e.rel(e.hub.Kubeconfig)}, args...)
}

// deviceArgs runs the device against both protocols.
func (e *env) deviceArgs(tokenFile string, extra ...string) []string {
	return append(e.deviceHTTP(tokenFile, "--grpc", e.edge.grpcAddr), extra...)
}

// deviceHTTP runs the device against HTTPS only.
func (e *env) deviceHTTP(tokenFile string, extra ...string) []string {
	argv := []string{filepath.Base(e.device), "--token-file", tokenFile, "--ca-file", e.edge.caFile, "--http", e.edge.httpURL}
	return append(argv, extra...)
}

// review is `tokenfed review` with the edge API's credentials.
func (e *env) review(tokenFile string) []string {
	bin, _ := tokenfedproc.Binary()
	return []string{filepath.Base(bin), "review", "--server", e.tokenfed.URL,
		"--certificate-authority", e.rel(e.tokenfed.Certs.CACert), "--caller-token-file", callerTokenFile,
		"--audience", edgeAudience, "--token-file", tokenFile}
}

func (e *env) printTryIt() {
	fmt.Printf(`
==> Everything is still running. Try it yourself, in %[1]s:

  cd %[1]s
  export PATH=%[2]s:$PATH
  kubectl --kubeconfig %[3]s -n devices create serviceaccount device-2
  kubectl --kubeconfig %[3]s -n devices create token device-2 --audience %[4]s --duration 10m > device-2.token
  %[5]s
  tokenfed log: %[6]s

Press Ctrl-C to stop everything and clean up.
`, e.dir, e.pathDirs(), e.rel(e.hub.Kubeconfig), edgeAudience, shellLine(e.deviceArgs("device-2.token")), e.rel(e.tokenfed.LogFile))
}
