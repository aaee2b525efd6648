// Package kind_test checks the kind cluster configs in this directory without
// Docker: they decode strictly with kind's own types, their kube-apiserver
// flags are the ones the e2e tests use, every file the apiserver reads is
// mounted from the host, and they agree with kind/tokenfed.yaml.
package kind_test

import (
	"bufio"
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	kindv1alpha4 "sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/server"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
)

const (
	memberConfig    = "member-cluster.yaml"
	hubConfig       = "hub-cluster.yaml"
	tokenfedConfig  = "tokenfed.yaml"
	webhookTemplate = "webhook/webhook.kubeconfig.tmpl"

	// repoRoot is where kind/README.md runs kind, which resolves a relative
	// extraMounts hostPath against its current directory.
	repoRoot = ".."
	// certsDir is where `make certs` writes the development certificates.
	certsDir = "certs"
	// exampleHost stands in for ${TOKENFED_HOST}. Like a docker bridge
	// gateway, it is not a name in the development serving certificate.
	exampleHost = "172.18.0.1"

	webhookConfigFileArg = "authentication-token-webhook-config-file"
	webhookCacheTTLArg   = "authentication-token-webhook-cache-ttl"
	// kindDefaultIssuer is kubeadm's issuer in every kind cluster that does
	// not set one, and so also its default API audience.
	kindDefaultIssuer = "https://kubernetes.default.svc.cluster.local"
)

// clusterConfiguration is the part of kubeadm's v1beta4 ClusterConfiguration
// (the API kind generates for Kubernetes 1.36 and later) that the patches
// set. Decoding strictly into it rejects misspelt fields and the v1beta3 map
// form of extraArgs.
type clusterConfiguration struct {
	APIVersion string    `json:"apiVersion,omitempty"`
	Kind       string    `json:"kind"`
	APIServer  apiServer `json:"apiServer"`
}

type apiServer struct {
	ExtraArgs    []arg           `json:"extraArgs,omitempty"`
	ExtraVolumes []hostPathMount `json:"extraVolumes,omitempty"`
}

type arg struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type hostPathMount struct {
	Name      string `json:"name"`
	HostPath  string `json:"hostPath"`
	MountPath string `json:"mountPath"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
	PathType  string `json:"pathType,omitempty"`
}

// cluster is a kind config with the kube-apiserver settings of its kubeadm
// patches, in the order kind would apply them.
type cluster struct {
	kind    *kindv1alpha4.Cluster
	args    []arg
	volumes []hostPathMount
}

func loadCluster(t *testing.T, file string) *cluster {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &kindv1alpha4.Cluster{}
	if err := yaml.UnmarshalStrict(data, cfg); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if cfg.APIVersion != "kind.x-k8s.io/v1alpha4" || cfg.Kind != "Cluster" {
		t.Fatalf("%s: got %s %s, want kind.x-k8s.io/v1alpha4 Cluster", file, cfg.APIVersion, cfg.Kind)
	}
	c := &cluster{kind: cfg}
	patches := slices.Clone(cfg.KubeadmConfigPatches)
	for _, n := range cfg.Nodes {
		patches = append(patches, n.KubeadmConfigPatches...)
	}
	for i, p := range patches {
		if err := c.addPatch(p); err != nil {
			t.Fatalf("%s: kubeadm patch %d: %v", file, i, err)
		}
	}
	return c
}

// addPatch adds the apiserver settings of one kubeadmConfigPatches entry,
// which, like kind, it splits into YAML documents.
func (c *cluster) addPatch(patch string) error {
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(patch)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := c.addDocument(doc); err != nil {
			return err
		}
	}
}

func (c *cluster) addDocument(doc []byte) error {
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return err
	}
	// Without apiVersion kind patches whichever kubeadm API it generates.
	if meta.APIVersion != "" {
		return fmt.Errorf("got apiVersion %q, want none", meta.APIVersion)
	}
	if meta.Kind != "ClusterConfiguration" {
		return nil
	}
	cc := &clusterConfiguration{}
	if err := yaml.UnmarshalStrict(doc, cc); err != nil {
		return fmt.Errorf("as kubeadm v1beta4 ClusterConfiguration: %w", err)
	}
	for _, a := range cc.APIServer.ExtraArgs {
		if _, dup := c.arg(a.Name); dup {
			return fmt.Errorf("extraArgs %q set twice", a.Name)
		}
		c.args = append(c.args, a)
	}
	c.volumes = append(c.volumes, cc.APIServer.ExtraVolumes...)
	return nil
}

func (c *cluster) arg(name string) (string, bool) {
	i := slices.IndexFunc(c.args, func(a arg) bool { return a.Name == name })
	if i < 0 {
		return "", false
	}
	return c.args[i].Value, true
}

// webhookFlags are the token webhook flags as command-line flags, sorted,
// with the cache TTL spelt as time.Duration prints it.
func (c *cluster) webhookFlags() ([]string, error) {
	var flags []string
	for _, a := range c.args {
		if !strings.HasPrefix(a.Name, "authentication-token-webhook-") {
			continue
		}
		value := a.Value
		if a.Name == webhookCacheTTLArg {
			d, err := time.ParseDuration(value)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", a.Name, err)
			}
			value = d.String()
		}
		flags = append(flags, "--"+a.Name+"="+value)
	}
	slices.Sort(flags)
	return flags, nil
}

func (c *cluster) controlPlanes() []kindv1alpha4.Node {
	var nodes []kindv1alpha4.Node
	for _, n := range c.kind.Nodes {
		// kind's default role is control-plane.
		if n.Role == "" || n.Role == kindv1alpha4.ControlPlaneRole {
			nodes = append(nodes, n)
		}
	}
	return nodes
}

// hostFile follows a path kube-apiserver reads from its pod to the host:
// pod -> node through an apiserver extraVolume, node -> host through an
// extraMount of every control-plane node. The result is relative to the
// repository root.
func (c *cluster) hostFile(podPath string) (string, error) {
	if !filepath.IsAbs(podPath) {
		return "", fmt.Errorf("%q is not absolute", podPath)
	}
	nodePath, err := c.nodePath(podPath)
	if err != nil {
		return "", err
	}
	host := ""
	for i, n := range c.controlPlanes() {
		h, err := mountedFrom(n.ExtraMounts, nodePath)
		if err != nil {
			return "", fmt.Errorf("control-plane node %d: %w", i, err)
		}
		if host != "" && h != host {
			return "", fmt.Errorf("control-plane nodes mount %q and %q at %q", host, h, nodePath)
		}
		host = h
	}
	if host == "" {
		return "", fmt.Errorf("no control-plane node")
	}
	return host, nil
}

func (c *cluster) nodePath(podPath string) (string, error) {
	for _, v := range c.volumes {
		if rel, ok := within(v.MountPath, podPath); ok {
			if !v.ReadOnly {
				return "", fmt.Errorf("extraVolume %q is writable; kube-apiserver only reads it", v.Name)
			}
			return filepath.Join(v.HostPath, rel), nil
		}
	}
	return "", fmt.Errorf("no apiServer extraVolume mounts %q", podPath)
}

func mountedFrom(mounts []kindv1alpha4.Mount, nodePath string) (string, error) {
	for _, m := range mounts {
		rel, ok := within(m.ContainerPath, nodePath)
		if !ok {
			continue
		}
		if filepath.IsAbs(m.HostPath) {
			return "", fmt.Errorf("extraMount hostPath %q is absolute; want one relative to the repository root", m.HostPath)
		}
		if !m.Readonly {
			return "", fmt.Errorf("extraMount %q is writable; the node only reads it", m.HostPath)
		}
		return filepath.Join(m.HostPath, rel), nil
	}
	return "", fmt.Errorf("no extraMount holds %q", nodePath)
}

// within returns path relative to dir, if path is dir or below it.
func within(dir, path string) (string, bool) {
	rel, err := filepath.Rel(dir, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", false
	}
	return rel, true
}

func TestClusterConfigs(t *testing.T) {
	tests := []struct {
		file string
		// name makes the kubectl context kind-<name> that kind/README.md uses.
		name string
		// webhook is what the e2e tests give kube-apiserver; nil means no
		// token webhook.
		webhook *controlplane.WebhookOptions
	}{
		{file: memberConfig, name: "tokenfed-member", webhook: &controlplane.WebhookOptions{Version: "v1", CacheTTL: 30 * time.Second}},
		{file: hubConfig, name: "tokenfed-hub"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c := loadCluster(t, tt.file)
			if c.kind.Name != tt.name {
				t.Errorf("got name %q, want %q", c.kind.Name, tt.name)
			}
			if len(c.controlPlanes()) == 0 {
				t.Errorf("got no control-plane node, want at least one")
			}
			got, err := c.webhookFlags()
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			if tt.webhook != nil {
				// File paths are the kind config's own; TestMemberFilesAreMounted checks them.
				file, _ := c.arg(webhookConfigFileArg)
				want = controlplane.WebhookFlags(file, *tt.webhook)
				slices.Sort(want)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("webhook flags (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMemberFilesAreMounted(t *testing.T) {
	member := loadCluster(t, memberConfig)
	kubeconfig := loadWebhookKubeconfig(t)
	cl, user := webhookClusterAndUser(t, kubeconfig)
	configFile, _ := member.arg(webhookConfigFileArg)
	read := map[string]string{
		"webhook kubeconfig":    configFile,
		"certificate-authority": cl.CertificateAuthority,
		"client-certificate":    user.ClientCertificate,
		"client-key":            user.ClientKey,
	}
	// The host files are the ones `make certs` writes, copied to kind/webhook.
	hostDir := filepath.Join("kind", "webhook")
	certs := devcerts.Paths(hostDir)
	tests := []struct {
		file         string
		wantHostFile string
		// fromTemplate: the host file is rendered from <wantHostFile>.tmpl.
		fromTemplate bool
	}{
		{file: "webhook kubeconfig", wantHostFile: filepath.Join(hostDir, "webhook.kubeconfig"), fromTemplate: true},
		{file: "certificate-authority", wantHostFile: certs.CACert},
		{file: "client-certificate", wantHostFile: certs.ClientCert},
		{file: "client-key", wantHostFile: certs.ClientKey},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := member.hostFile(read[tt.file])
			if err != nil {
				t.Fatalf("%s %q: %v", tt.file, read[tt.file], err)
			}
			if got != tt.wantHostFile {
				t.Errorf("%s %q comes from host file %q, want %q", tt.file, read[tt.file], got, tt.wantHostFile)
			}
			if tt.fromTemplate {
				if _, err := os.Stat(filepath.Join(repoRoot, tt.wantHostFile+".tmpl")); err != nil {
					t.Errorf("template of %s: %v", tt.wantHostFile, err)
				}
			}
		})
	}
}

// renderTemplate does what envsubst does in kind/README.md.
func renderTemplate(tmpl string, vars map[string]string) (string, error) {
	var missing []string
	out := os.Expand(tmpl, func(name string) string {
		v, ok := vars[name]
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("template uses unknown variables %v", missing)
	}
	return out, nil
}

func loadWebhookKubeconfig(t *testing.T) *clientcmdapi.Config {
	t.Helper()
	tmpl, err := os.ReadFile(webhookTemplate)
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := renderTemplate(string(tmpl), map[string]string{"TOKENFED_HOST": exampleHost})
	if err != nil {
		t.Fatalf("%s: %v", webhookTemplate, err)
	}
	cfg, err := clientcmd.Load([]byte(rendered))
	if err != nil {
		t.Fatalf("%s rendered: %v", webhookTemplate, err)
	}
	return cfg
}

// webhookClusterAndUser are the cluster and user of the current context,
// which is what kube-apiserver uses.
func webhookClusterAndUser(t *testing.T, cfg *clientcmdapi.Config) (*clientcmdapi.Cluster, *clientcmdapi.AuthInfo) {
	t.Helper()
	ctx := cfg.Contexts[cfg.CurrentContext]
	if ctx == nil {
		t.Fatalf("got no context %q in the webhook kubeconfig", cfg.CurrentContext)
	}
	cl, user := cfg.Clusters[ctx.Cluster], cfg.AuthInfos[ctx.AuthInfo]
	if cl == nil || user == nil {
		t.Fatalf("context %q: got cluster %v and user %v, want both", cfg.CurrentContext, cl, user)
	}
	return cl, user
}

func TestWebhookKubeconfigTemplate(t *testing.T) {
	cl, user := webhookClusterAndUser(t, loadWebhookKubeconfig(t))
	tf, err := v1alpha1.LoadFile(tokenfedConfig)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(cl.Server)
	if err != nil {
		t.Fatalf("server %q: %v", cl.Server, err)
	}
	certs := writeDevCerts(t)
	checks := []struct {
		what      string
		got, want string
	}{
		{"server scheme", u.Scheme, "https"},
		{"server host", u.Hostname(), exampleHost},
		// kube-apiserver posts every version to one URL; only this path
		// takes the version from the body.
		{"server path", u.Path, server.PathAuthenticate},
		{"server port", u.Port(), strconv.Itoa(int(tf.Server.SecurePort))},
		{"insecure-skip-tls-verify", strconv.FormatBool(cl.InsecureSkipTLSVerify), "false"},
		// tls-server-name is how the member trusts a serving certificate
		// that names only localhost, at whatever address the host has.
		{"serving certificate verifies", verifyServing(certs, serverName(cl, u)), ""},
		{"client certificate verifies against server.clientCAFile", verifyClient(certs), ""},
		{"client-certificate set", strconv.FormatBool(user.ClientCertificate != ""), "true"},
		{"client-key set", strconv.FormatBool(user.ClientKey != ""), "true"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.what, c.got, c.want)
		}
	}
}

// writeDevCerts writes what `make certs` writes, into a temporary directory.
func writeDevCerts(t *testing.T) devcerts.Files {
	t.Helper()
	f, err := devcerts.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// serverName is the name kube-apiserver's TLS client verifies.
func serverName(cl *clientcmdapi.Cluster, server *url.URL) string {
	if cl.TLSServerName != "" {
		return cl.TLSServerName
	}
	return server.Hostname()
}

// verifyServing returns the error text of verifying the serving certificate
// for name, or "".
func verifyServing(f devcerts.Files, name string) string {
	return errorText(verify(f.CACert, f.ServingCert, x509.VerifyOptions{DNSName: name}))
}

func verifyClient(f devcerts.Files) string {
	return errorText(verify(f.CACert, f.ClientCert, x509.VerifyOptions{KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}))
}

func verify(caFile, certFile string, opts x509.VerifyOptions) error {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	opts.Roots = x509.NewCertPool()
	if !opts.Roots.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("no certificate in %s", caFile)
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return err
	}
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return fmt.Errorf("no PEM in %s", certFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return err
	}
	_, err = cert.Verify(opts)
	return err
}

func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestTokenfedConfigMatchesClusters(t *testing.T) {
	tf, err := v1alpha1.LoadFile(tokenfedConfig)
	if err != nil {
		t.Fatal(err)
	}
	if errs := v1alpha1.Validate(tf); len(errs) > 0 {
		t.Fatalf("%s: got errors %v, want none", tokenfedConfig, errs.ToAggregate())
	}
	hub, member := loadCluster(t, hubConfig), loadCluster(t, memberConfig)
	issuer := findIssuer(tf, "hub")
	if issuer == nil {
		t.Fatalf("%s: got no issuer named hub", tokenfedConfig)
	}
	hubIssuer, _ := hub.arg("service-account-issuer")
	hubJWKS, _ := hub.arg("service-account-jwks-uri")
	memberIssuer, _ := member.arg("service-account-issuer")
	memberAudiences, _ := member.arg("api-audiences")
	hubAPIServer := net.JoinHostPort(hub.kind.Networking.APIServerAddress, strconv.Itoa(int(hub.kind.Networking.APIServerPort)))
	certs := devcerts.Paths(certsDir)
	checks := []struct {
		what      string
		got, want string
	}{
		// The member's kube-apiserver reaches tokenfed from a container.
		{"bindAddress is loopback", strconv.FormatBool(net.ParseIP(tf.Server.BindAddress).IsLoopback()), "false"},
		{"tlsCertFile", tf.Server.TLSCertFile, certs.ServingCert},
		{"tlsPrivateKeyFile", tf.Server.TLSPrivateKeyFile, certs.ServingKey},
		{"clientCAFile", tf.Server.ClientCAFile, certs.CACert},
		{"hub issuer url", issuer.URL, hubIssuer},
		// Two kind clusters with the default issuer could only be told
		// apart by kid, and the member would claim hub tokens itself.
		{"hub issuer is kind's default", strconv.FormatBool(hubIssuer == kindDefaultIssuer), "false"},
		{"hub discoveryURL", issuer.DiscoveryURL, "https://" + hubAPIServer + "/.well-known/openid-configuration"},
		{"hub jwks uri host", hostOf(hubJWKS), hubAPIServer},
		// kind/README.md mints hub tokens for the member's default audience.
		{"member service-account-issuer", memberIssuer, ""},
		{"member api-audiences", memberAudiences, ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.what, c.got, c.want)
		}
	}
}

func findIssuer(cfg *v1alpha1.Configuration, name string) *v1alpha1.Issuer {
	for i := range cfg.Issuers {
		if cfg.Issuers[i].Name == name {
			return &cfg.Issuers[i]
		}
	}
	return nil
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return err.Error()
	}
	return u.Host
}

// TestREADMENamesFiles keeps kind/README.md's table of files honest.
func TestREADMENamesFiles(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{memberConfig, hubConfig, tokenfedConfig, webhookTemplate} {
		if !bytes.Contains(readme, []byte("`"+f+"`")) {
			t.Errorf("README.md: got no mention of `%s`, want one", f)
		}
	}
}
