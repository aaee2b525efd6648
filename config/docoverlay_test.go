package config_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
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
