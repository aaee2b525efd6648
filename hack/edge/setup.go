package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenfed/tokenfed/hack/edge/edgeapi"
	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/client"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
	"github.com/tokenfed/tokenfed/pkg/testing/federation"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// The names of the story.
const (
	edgeAudience   = "https://edge.example"
	otherAudience  = "https://other.example"
	callerAudience = "tokenfed"
	edgeNamespace  = "edge"
	edgeSA         = "edge-api"
	edgeCaller     = "hub:system:serviceaccount:" + edgeNamespace + ":" + edgeSA
	devices        = "devices"
	device1        = "device-1"
	deviceUser     = "hub:system:serviceaccount:" + devices + ":" + device1
	// successTTL is tokenfed's cache.successTTL here, short so that a
	// revocation shows within seconds; the default is 2m.
	successTTL = 3 * time.Second
	// hubTokenCacheTTL is kube-apiserver's own cache of authenticated
	// tokens (no flag): its TokenReview answers may be this old.
	hubTokenCacheTTL = 10 * time.Second
	// tokenfedVerbosity logs one line per review and why a token was
	// refused, never a token.
	tokenfedVerbosity = 3
)

// env is what runs: the hub, tokenfed and the edge API; paths are in dir.
type env struct {
	dir, device string
	hub         *controlplane.ControlPlane
	tokenfed    *tokenfedproc.Process
	edge        edgeEndpoints
	stopEdge    func()
}

// edgeEndpoints is where the device finds the edge API.
type edgeEndpoints struct {
	httpURL, grpcAddr, caFile string
}

// callerTokenFile is the edge API's own token, relative to dir.
const callerTokenFile = "edge-api.token"

func say(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

func (e *env) startHub(ctx context.Context) (err error) {
	say("starting the hub control plane (etcd + kube-apiserver): its service accounts are the identities")
	e.hub, err = controlplane.Start(ctx, controlplane.Options{Name: "hub", Dir: filepath.Join(e.dir, "hub"), Progress: os.Stdout})
	if err != nil {
		return err
	}
	fmt.Printf("    hub at %s, service-account issuer %s\n", e.hub.URL, e.hub.IssuerURL)
	return e.hub.AllowAnonymousIssuerDiscovery(ctx)
}

// tokenfedConfig trusts the hub's issuer, confirms bound tokens with the
// hub (whenBound), and lets exactly one caller in: the edge API, by its
// own hub token minted for tokenfed, for hub tokens and the edge audience.
func (e *env) tokenfedConfig() v1alpha1.Configuration {
	hub := federation.HubIssuer("hub", e.hub)
	// The demo's upstream credential is the hub's admin; a real one is a
	// ServiceAccount that may only create TokenReviews (config/upstream-rbac).
	hub.Upstream = &v1alpha1.Upstream{Kubeconfig: e.hub.Kubeconfig, Policy: v1alpha1.UpstreamWhenBound}
	return v1alpha1.Configuration{
		Issuers: []v1alpha1.Issuer{hub},
		Cache:   v1alpha1.Cache{SuccessTTL: metav1.Duration{Duration: successTTL}},
		Callers: v1alpha1.Callers{
			Tokens: &v1alpha1.CallerTokens{Audiences: []string{callerAudience}, Issuers: []string{"hub"}},
			Authorization: v1alpha1.CallerAuthorization{Static: []v1alpha1.CallerPolicy{
				{Name: "edge-api", Users: []string{edgeCaller}, Issuers: []string{"hub"}, Audiences: []string{edgeAudience}},
			}},
		},
	}
}

func (e *env) startTokenfed(ctx context.Context) (err error) {
	say("starting tokenfed: it trusts the hub's issuer (upstream policy whenBound, cache.successTTL %s),\n    and its one caller is %s, for hub tokens minted for %s", successTTL, edgeCaller, edgeAudience)
	dir := filepath.Join(e.dir, "tokenfed")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	verbosity := tokenfedVerbosity
	e.tokenfed, err = tokenfedproc.Start(ctx, tokenfedproc.Options{Dir: dir, Config: e.tokenfedConfig(), Verbosity: &verbosity})
	if err != nil {
		return err
	}
	fmt.Printf("    tokenfed at %s, config %s, log %s\n", e.tokenfed.URL, e.rel(e.tokenfed.ConfigFile), e.rel(e.tokenfed.LogFile))
	return nil
}

// startEdgeAPI runs the edge API in this process: a tokenfed client that
// presents callerTokenFile (re-read when it changes), behind httpauth and
// grpcauth, with a development certificate for 127.0.0.1.
func (e *env) startEdgeAPI() error {
	tf, err := client.New(client.Config{
		Server: e.tokenfed.URL, CAFile: e.tokenfed.Certs.CACert,
		TokenFile: filepath.Join(e.dir, callerTokenFile),
	})
	if err != nil {
		return err
	}
	api, err := edgeapi.New(edgeapi.Options{Authenticator: tf, Audiences: []string{edgeAudience}})
	if err != nil {
		return err
	}
	certs, err := devcerts.Write(filepath.Join(e.dir, "edge"))
	if err != nil {
		return err
	}
	pair, err := tls.LoadX509KeyPair(certs.ServingCert, certs.ServingKey)
	if err != nil {
		return err
	}
	httpLn, grpcLn, err := listenTwice()
	if err != nil {
		return err
	}
	e.edge = edgeEndpoints{
		httpURL: "https://" + httpLn.Addr().String() + edgeapi.WhoAmIPath, grpcAddr: grpcLn.Addr().String(),
		caFile: e.rel(certs.CACert),
	}
	e.stopEdge = serveInBackground(api, httpLn, grpcLn, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
	say("the edge API is up: %s and gRPC %s; it accepts hub tokens minted for %s,\n    and asks tokenfed with its own token (%s)", e.edge.httpURL, e.edge.grpcAddr, edgeAudience, callerTokenFile)
	return nil
}

func listenTwice() (net.Listener, net.Listener, error) {
	a, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	b, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

// serveInBackground serves until the returned stop is called, which waits
// for the servers to end.
func serveInBackground(api *edgeapi.Server, httpLn, grpcLn net.Listener, cfg *tls.Config) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- api.Serve(ctx, httpLn, grpcLn, cfg) }()
	return func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "edge: the edge API:", err)
		}
	}
}

// stop stops whatever runs, in reverse order.
func (e *env) stop() {
	if e.stopEdge != nil {
		e.stopEdge()
	}
	if e.tokenfed != nil {
		e.tokenfed.Stop()
	}
	if e.hub != nil {
		e.hub.Stop()
	}
}

// rel is path relative to dir, where every command runs, for shorter lines.
func (e *env) rel(path string) string {
	if r, err := filepath.Rel(e.dir, path); err == nil {
		return r
	}
	return path
}
