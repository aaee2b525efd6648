package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/federation"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// env is everything the cases run against, each server its own process.
type env struct {
	hub                  *controlplane.ControlPlane
	tokenfed, upstreamTF *tokenfedproc.Process
	// watchTF is tokenfed with revocation watch (cases 2w, 3w): the same
	// issuers and cache as tokenfed, plus an onFailure upstream whose
	// credentials the watch uses.
	watchTF *tokenfedproc.Process
	// callersTF is tokenfed with caller policies (cases 2b, 2c): the same
	// issuers and cache as tokenfed, only callers differs.
	callersTF         *tokenfedproc.Process
	echoURL, proxyURL string
	hubTLS, tfTLS     *tls.Config
	upTLS, callersTLS *tls.Config
	watchTLS          *tls.Config
	// bearerTLS trusts callersTF without presenting a client certificate:
	// the caller of case 2c is its own bearer token, callerToken.
	bearerTLS   *tls.Config
	callerToken string
	pids        map[string]int
	rs, es      *minter
	// edgeJWKS is the edge issuer's static key set, for tokenfeds started
	// later (case 3f).
	edgeJWKS string
	// dir holds every process's files; fill is case 3f's outcome.
	dir   string
	fill  *fillResult
	stops []func()
}

const (
	benchNS, benchSA = "bench", "app"
	edgeIssuer       = "https://edge.bench.tokenfed.test"
	kidCooldown      = 2 * time.Second
	// callerAudience is what a caller's own token is minted for.
	callerAudience = "tokenfed"
)

func setup(ctx context.Context, dir string) (*env, error) {
	e := &env{pids: map[string]int{}, dir: dir}
	steps := []func(context.Context, string) error{e.startHub, e.startTokenfeds, e.startEcho, e.startProxy, e.findPids}
	for _, step := range steps {
		if err := step(ctx, dir); err != nil {
			e.stop()
			return nil, err
		}
	}
	return e, nil
}

func (e *env) stop() {
	for i := len(e.stops) - 1; i >= 0; i-- {
		e.stops[i]()
	}
}

func (e *env) startHub(ctx context.Context, dir string) error {
	say("starting the hub control plane")
	hub, err := controlplane.Start(ctx, controlplane.Options{Name: "bench-hub", Dir: mkdir(dir, "hub"), Progress: os.Stderr})
	if err != nil {
		return err
	}
	e.hub = hub
	e.stops = append(e.stops, hub.Stop)
	if err := hub.AllowAnonymousIssuerDiscovery(ctx); err != nil {
		return err
	}
	if _, err := hub.CreateNamespace(ctx, benchNS); err != nil {
		return err
	}
	sa, err := hub.CreateServiceAccount(ctx, benchNS, benchSA)
	if err != nil {
		return err
	}
	key, err := loadRSAKey(hub.SigningKeyFile)
	if err != nil {
		return err
	}
	if e.rs, err = newMinter(key, jose.RS256, hub.IssuerURL, benchNS, benchSA, string(sa.UID)); err != nil {
		return err
	}
	tlsCfg, err := rest.TLSConfigFor(hub.RESTConfig)
	e.hubTLS = tlsCfg
	return err
}

func (e *env) startTokenfeds(ctx context.Context, dir string) error {
	ec, err := newECKey()
	if err != nil {
		return err
	}
	if e.es, err = newMinter(ec, jose.ES256, edgeIssuer, benchNS, benchSA, "6b1e6f1c-0000-4000-8000-000000000001"); err != nil {
		return err
	}
	jwks, err := jwksOf(ec, "ES256")
	if err != nil {
		return err
	}
	e.edgeJWKS = jwks
	say("starting tokenfed (local verification), tokenfed (upstream policy always), tokenfed (caller policies) and tokenfed (revocation watch)")
	if e.tokenfed, err = e.startTokenfed(ctx, mkdir(dir, "tokenfed"), jwks, nil, nil, v1alpha1.Callers{}); err != nil {
		return err
	}
	always := &v1alpha1.Upstream{Kubeconfig: e.hub.Kubeconfig, Policy: v1alpha1.UpstreamAlways, MaxConcurrent: 256}
	if e.upstreamTF, err = e.startTokenfed(ctx, mkdir(dir, "tokenfed-upstream"), jwks, always, nil, v1alpha1.Callers{}); err != nil {
		return err
	}
	if e.callersTF, err = e.startTokenfed(ctx, mkdir(dir, "tokenfed-callers"), jwks, nil, nil, benchCallers()); err != nil {
		return err
	}
	onFailure := &v1alpha1.Upstream{Kubeconfig: e.hub.Kubeconfig, Policy: v1alpha1.UpstreamOnFailure, MaxConcurrent: 256}
	watch := &v1alpha1.Revocation{Mode: v1alpha1.RevocationWatch}
	if e.watchTF, err = e.startTokenfed(ctx, mkdir(dir, "tokenfed-watch"), jwks, onFailure, watch, v1alpha1.Callers{}); err != nil {
		return err
	}
	if e.callerToken, err = e.rs.mint(callerAudience); err != nil {
		return err
	}
	// Each tokenfed has its own development CA and client certificate.
	e.tfTLS = e.tokenfed.TLSConfig()
	e.upTLS = e.upstreamTF.TLSConfig()
	e.callersTLS = e.callersTF.TLSConfig()
	e.watchTLS = e.watchTF.TLSConfig()
	e.bearerTLS = e.callersTF.TLSConfig()
	e.bearerTLS.Certificates = nil
	return nil
}

// benchCallers grants the hub issuer only, by name, to the development
// client certificate (CN kube-apiserver) and to the bench service account
// by its own token. The edge issuer is configured but not granted, so every
// review pays the per-issuer grant check that "*" skips (against the
// cached answer's issuer, Chain.Cached).
func benchCallers() v1alpha1.Callers {
	return v1alpha1.Callers{
		Tokens: &v1alpha1.CallerTokens{Audiences: []string{callerAudience}, Issuers: []string{"hub"}},
		Authorization: v1alpha1.CallerAuthorization{Mode: v1alpha1.CallerAuthorizationStatic, Static: []v1alpha1.CallerPolicy{
			{Name: "member", Users: []string{"kube-apiserver"}, Issuers: []string{"hub"}, Endpoints: []string{"/debug/pprof", "/metrics"}},
			{Name: "app", Users: []string{"hub:system:serviceaccount:" + benchNS + ":" + benchSA}, Issuers: []string{"hub"}},
		}},
	}
}

func (e *env) startTokenfed(ctx context.Context, dir, jwks string, up *v1alpha1.Upstream, rev *v1alpha1.Revocation, callers v1alpha1.Callers) (*tokenfedproc.Process, error) {
	cfg := benchConfig(e.hub, jwks)
	cfg.Issuers[0].Upstream, cfg.Issuers[0].Revocation = up, rev
	cfg.Callers = callers
	return e.launchTokenfed(ctx, dir, cfg)
}

// benchConfig is every bench tokenfed's configuration before its case's
// changes: issuers hub (discovery, RS256) and edge (static keys, ES256),
// and room in the cache for every token of a run.
func benchConfig(hub *controlplane.ControlPlane, edgeJWKS string) v1alpha1.Configuration {
	h := federation.HubIssuer("hub", hub)
	h.Fetch.UnknownKidCooldown = metav1.Duration{Duration: kidCooldown}
	edge := v1alpha1.Issuer{Name: "edge", URL: edgeIssuer, StaticKeys: &v1alpha1.StaticKeys{JWKS: edgeJWKS}, Algorithms: []string{"ES256"}}
	return v1alpha1.Configuration{Issuers: []v1alpha1.Issuer{h, edge}, Cache: v1alpha1.Cache{MaxEntries: 400000}}
}

// launchTokenfed starts a tokenfed with cfg, stopped with the bench (or
// earlier, by its case).
func (e *env) launchTokenfed(ctx context.Context, dir string, cfg v1alpha1.Configuration) (*tokenfedproc.Process, error) {
	p, err := tokenfedproc.Start(ctx, tokenfedproc.Options{Dir: dir, Config: cfg, Args: []string{"-v", "0", "--profiling"}})
	if err != nil {
		return nil, err
	}
	e.stops = append(e.stops, p.Stop)
	return p, nil
}

// startEcho runs this program again as the ceiling server.
func (e *env) startEcho(_ context.Context, _ string) error {
	port, err := tokenfedproc.FreePort()
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(os.Args[0], "-echo", addr, "-echo-cert", e.tokenfed.Certs.ServingCert, "-echo-key", e.tokenfed.Certs.ServingKey)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	e.stops = append(e.stops, func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	e.pids["echo"] = cmd.Process.Pid
	e.echoURL = "https://" + addr + "/"
	return waitHTTP(e.echoURL, e.tfTLS)
}

// startProxy is the common pattern today: app -> kubectl proxy -> apiserver.
func (e *env) startProxy(_ context.Context, dir string) error {
	port, err := tokenfedproc.FreePort()
	if err != nil {
		return err
	}
	cmd := exec.Command("kubectl", "proxy", "--port", strconv.Itoa(port), "--kubeconfig", e.hub.Kubeconfig)
	cmd.Env = append(os.Environ(), "HOME="+mkdir(dir, "kubectl-home"))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("kubectl proxy: %w", err)
	}
	e.stops = append(e.stops, func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	e.pids["kubectl proxy"] = cmd.Process.Pid
	e.proxyURL = fmt.Sprintf("http://127.0.0.1:%d/apis/authentication.k8s.io/v1/tokenreviews", port)
	return waitHTTP(fmt.Sprintf("http://127.0.0.1:%d/version", port), nil)
}

func (e *env) findPids(context.Context, string) error {
	u, _ := url.Parse(e.hub.URL)
	for name, marker := range map[string]string{
		"kube-apiserver":    "--secure-port=" + u.Port(),
		"tokenfed":          "serve --config " + e.tokenfed.ConfigFile,
		"tokenfed-upstream": "serve --config " + e.upstreamTF.ConfigFile,
		"tokenfed-callers":  "serve --config " + e.callersTF.ConfigFile,
		"tokenfed-watch":    "serve --config " + e.watchTF.ConfigFile,
	} {
		pid, err := pidListening(marker)
		if err != nil {
			return err
		}
		e.pids[name] = pid
	}
	return nil
}

func waitHTTP(u string, tlsCfg *tls.Config) error {
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: time.Second}
	for range 100 {
		if resp, err := c.Get(u); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer", u)
}

func mkdir(dir, name string) string {
	p := filepath.Join(dir, name)
	_ = os.MkdirAll(p, 0o700)
	return p
}
