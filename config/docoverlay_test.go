package config_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
)

// docOverlay writes the example overlay of docs/deploy.md ("Your
// overlay") into a temporary directory, with its paths to config/ made to
// work from there, and returns the directory and the overlay as written in
// the doc.
func docOverlay(t *testing.T) (dir string, doc []byte) {
	t.Helper()
	md, err := os.ReadFile(filepath.Join("..", "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n# deploy/tokenfed/kustomization.yaml\n(.*?)```").FindSubmatch(md)
	if m == nil {
		t.Fatal("docs/deploy.md: got no yaml block starting with # deploy/tokenfed/kustomization.yaml")
	}
	configDir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	rel, err := filepath.Rel(dir, configDir)
	if err != nil {
		t.Fatal(err)
	}
	k := strings.ReplaceAll(string(m[1]), "../../config/", rel+"/")
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, m[1]
}

// TestDocOverlayTakesEffect: every choice the example overlay of
// docs/deploy.md makes shows in its build. kustomize ignores an images
// entry that matches no image silently, and config/default has already
// renamed "tokenfed" to its registry's name, so an overlay that names
// "tokenfed" would deploy the default image without a word; a server-side
// dry run (test/manifests) accepts that too.
func TestDocOverlayTakesEffect(t *testing.T) {
	dir, doc := docOverlay(t)
	var k struct {
		Images []struct {
			Name    string `json:"name"`
			NewName string `json:"newName"`
			NewTag  string `json:"newTag"`
		} `json:"images"`
	}
	if err := yaml.Unmarshal(doc, &k); err != nil {
		t.Fatal(err)
	}
	if len(k.Images) != 1 {
		t.Fatalf("docs/deploy.md's overlay: got %d images entries, want 1", len(k.Images))
	}
	ms := build(t, dir)
	dep := object[appsv1.Deployment](t, ms, "Deployment", "tokenfed")
	want := k.Images[0].NewName + ":" + k.Images[0].NewTag
	if got := dep.Spec.Template.Spec.Containers[0].Image; got != want {
		t.Errorf("docs/deploy.md's overlay: the Deployment runs %s, want %s: its images entry (name %q) matches no image of config/default", got, want, k.Images[0].Name)
	}
	if svc := object[corev1.Service](t, ms, "Service", "tokenfed"); svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		t.Errorf("docs/deploy.md's overlay: got Service type %q, want LoadBalancer", svc.Spec.Type)
	}
	serving := object[cmapi.Certificate](t, ms, "Certificate", "tokenfed-serving")
	if names := strings.Join(serving.Spec.DNSNames, ","); !strings.Contains(names, "tokenfed.prod.example.org") {
		t.Errorf("docs/deploy.md's overlay: serving DNS names %s lack tokenfed.prod.example.org", names)
	}
}

// TestDocOverlayReplacesConfiguration: the configMapGenerator that
// docs/deploy.md ("Changing the configuration") adds to the overlay puts
// the overlay's config.yaml into the ConfigMap the Deployment mounts, under
// the same name, so that an edit reaches the pods without a rollout.
func TestDocOverlayReplacesConfiguration(t *testing.T) {
	dir, _ := docOverlay(t)
	md, err := os.ReadFile(filepath.Join("..", "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n# in deploy/tokenfed/kustomization.yaml\n(.*?)```").FindSubmatch(md)
	if m == nil {
		t.Fatal("docs/deploy.md: got no yaml block starting with # in deploy/tokenfed/kustomization.yaml")
	}
	k, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sample, err := os.ReadFile(filepath.Join("manager", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	mine := strings.Replace(string(sample), "users: [member-a]", "users: [member-a, member-b]", 1)
	if mine == string(sample) {
		t.Fatal("config/manager/config.yaml: got no users: [member-a] to change")
	}
	for name, data := range map[string]string{"kustomization.yaml": string(k) + string(m[1]), "config.yaml": mine} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ms := build(t, dir)
	cm := object[corev1.ConfigMap](t, ms, "ConfigMap", "tokenfed-config")
	if cm.Data["config.yaml"] != mine || len(cm.Data) != 1 {
		t.Errorf("ConfigMap tokenfed-config: got %q, want the overlay's config.yaml alone", cm.Data)
	}
	dep := object[appsv1.Deployment](t, ms, "Deployment", "tokenfed")
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.Name == "config" && (v.ConfigMap == nil || v.ConfigMap.Name != "tokenfed-config") {
			t.Errorf("Deployment: volume config is %+v, want the ConfigMap tokenfed-config", v.VolumeSource)
		}
	}
}

// TestOnboardingIssuerIsMounted: docs/onboarding.md's new issuer ("An
// issuer: another cluster's service accounts") names files that its
// overlay patch mounts from the Secret its command creates, with the keys
// that command gives them, and validates next to the sample configuration.
func TestOnboardingIssuerIsMounted(t *testing.T) {
	mdBytes, err := os.ReadFile(filepath.Join("..", "docs", "onboarding.md"))
	if err != nil {
		t.Fatal(err)
	}
	md := string(mdBytes)
	block := func(re string) string {
		t.Helper()
		m := regexp.MustCompile(re).FindStringSubmatch(md)
		if m == nil {
			t.Fatalf("docs/onboarding.md: got nothing for %s", re)
		}
		return m[1]
	}
	patch := block("(?s)```yaml\n# in deploy/tokenfed/kustomization.yaml, under patches:\n(.*?)```")
	issuerYAML := block("(?s)\\*\\*3\\. The issuer\\*\\*.*?```yaml\n(.*?)```")
	secretCmd := block("(?s)(kubectl -n tokenfed-system create secret generic .*?)\n```")
	kubeconfigYAML := block("(?s)cat > kubeconfig <<'END'\n(.*?)END\n")

	dir := WriteOverlay(t)
	k, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), append(k, "patches:\n"+patch...), 0o600); err != nil {
		t.Fatal(err)
	}
	dep := object[appsv1.Deployment](t, build(t, dir), "Deployment", "tokenfed")
	pod := &dep.Spec.Template.Spec

	secret := regexp.MustCompile(`create secret generic (\S+)`).FindStringSubmatch(secretCmd)[1]
	var keys []string
	for _, m := range regexp.MustCompile(`--from-file=(\S+)`).FindAllStringSubmatch(secretCmd, -1) {
		keys = append(keys, secret+"/"+m[1])
	}

	var snippet struct {
		Issuers []v1alpha1.Issuer `json:"issuers"`
	}
	if err := yaml.UnmarshalStrict([]byte(issuerYAML), &snippet); err != nil || len(snippet.Issuers) != 1 {
		t.Fatalf("the issuer: got %d issuers, %v; want one", len(snippet.Issuers), err)
	}
	iss := snippet.Issuers[0]
	kc, err := clientcmd.Load([]byte(kubeconfigYAML))
	if err != nil {
		t.Fatalf("the hub's kubeconfig: %v", err)
	}
	ctx := kc.Contexts[kc.CurrentContext]
	if ctx == nil || kc.Clusters[ctx.Cluster] == nil || kc.AuthInfos[ctx.AuthInfo] == nil {
		t.Fatalf("the hub's kubeconfig: current context %q has no cluster or user", kc.CurrentContext)
	}
	for what, path := range map[string]string{
		"fetch.caFile":                           iss.Fetch.CAFile,
		"fetch.bearerTokenFile":                  iss.Fetch.BearerTokenFile,
		"upstream.kubeconfig":                    iss.Upstream.Kubeconfig,
		"the kubeconfig's certificate-authority": kc.Clusters[ctx.Cluster].CertificateAuthority,
		"the kubeconfig's tokenFile":             kc.AuthInfos[ctx.AuthInfo].TokenFile,
	} {
		if got := secretFile(pod, &pod.Containers[0], path); !slices.Contains(keys, got) {
			t.Errorf("%s %s: got %s, want one of the Secret's files %v", what, path, got, keys)
		}
	}

	validate := func(what string, iss v1alpha1.Issuer) {
		t.Helper()
		cfg, err := v1alpha1.LoadFile(managerConfig)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Issuers = append(cfg.Issuers, iss)
		v1alpha1.SetDefaults(cfg)
		if errs := v1alpha1.Validate(cfg); len(errs) > 0 {
			t.Errorf("%s with %s: %v", managerConfig, what, errs.ToAggregate())
		}
	}
	validate("the hub issuer", iss)

	// "Optionally, revoke at once": the same issuer with its upstream and
	// revocation replaced validates too, and keeps the mounted kubeconfig.
	var watch struct {
		Upstream   *v1alpha1.Upstream   `json:"upstream"`
		Revocation *v1alpha1.Revocation `json:"revocation"`
	}
	watchYAML := block("(?s)\\*\\*Optionally, revoke at once\\.\\*\\*.*?```yaml\n(.*?)```")
	if err := yaml.UnmarshalStrict([]byte(watchYAML), &watch); err != nil || watch.Upstream == nil || watch.Revocation == nil {
		t.Fatalf("the revocation variant: got %+v, %v; want upstream and revocation", watch, err)
	}
	if watch.Upstream.Kubeconfig != iss.Upstream.Kubeconfig {
		t.Errorf("the revocation variant: upstream.kubeconfig %s, want step 3's %s", watch.Upstream.Kubeconfig, iss.Upstream.Kubeconfig)
	}
	iss.Upstream, iss.Revocation = watch.Upstream, watch.Revocation
	validate("the hub issuer watching for revocation", iss)
}
