package manifests

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
)

// cluster is a control plane with kubectl pointed at it as its admin.
type cluster struct {
	cp   *controlplane.ControlPlane
	home string
}

// startCluster starts a control plane and installs the CRDs the manifests
// need.
func startCluster(t *testing.T, name string) *cluster {
	t.Helper()
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	crds := crdFiles(t, root)
	c := &cluster{cp: controlplane.StartT(t, controlplane.Options{Name: name}), home: t.TempDir()}
	args := []string{"apply", "--server-side"}
	var names []string
	for _, f := range crds {
		args = append(args, "-f", f)
		names = append(names, "crd/"+crdName(t, f))
	}
	// Server-side: the client-side last-applied annotation of the larger
	// CRDs would be over the annotation size limit.
	c.kubectl(t, args...)
	c.kubectl(t, append([]string{"wait", "--for=condition=Established", "--timeout=60s"}, names...)...)
	return c
}

// kubectl runs kubectl as the control plane's admin and fails the test on
// error. It reads no kubeconfig of the user's: KUBECONFIG is unset and HOME
// is the test's.
func (c *cluster) kubectl(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, err := c.tryKubectl(t, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, stderr, stdout)
	}
	return stdout, stderr
}

func (c *cluster) tryKubectl(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		kubectl = "/usr/bin/kubectl"
	}
	flags := []string{"--kubeconfig=" + c.cp.Kubeconfig, "--cache-dir=" + filepath.Join(c.home, "cache")}
	cmd := exec.CommandContext(t.Context(), kubectl, append(flags, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=", "HOME="+c.home)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// configDir is the repository's config/ directory.
func configDir(t *testing.T) string {
	t.Helper()
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "config")
}

// kustomizations are the directories under config/ with a kustomization,
// by kind: Kustomization or Component.
func kustomizations(t *testing.T) (overlays, components []string) {
	t.Helper()
	dir := configDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "*", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	more, err := filepath.Glob(filepath.Join(dir, "*", "*", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range append(files, more...) {
		if strings.Contains(f, string(filepath.Separator)+"testdata"+string(filepath.Separator)) {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var k struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal(data, &k); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		rel, _ := filepath.Rel(dir, filepath.Dir(f))
		switch k.Kind {
		case "Kustomization", "":
			overlays = append(overlays, rel)
		case "Component":
			components = append(components, rel)
		default:
			t.Fatalf("%s: got kind %q, want Kustomization or Component", f, k.Kind)
		}
	}
	if !slices.Contains(overlays, "default") || len(components) == 0 {
		t.Fatalf("got kustomizations %v and components %v under %s, want default and some components", overlays, components, dir)
	}
	return overlays, components
}

// componentOverlay writes a kustomization of config/default with the given
// components (paths relative to config/) into a temporary directory, as an
// operator's overlay would be, and returns the directory. kustomize takes
// only relative paths.
func componentOverlay(t *testing.T, components ...string) string {
	t.Helper()
	config := configDir(t)
	dir := t.TempDir()
	rel := func(p string) string {
		r, err := filepath.Rel(dir, filepath.Join(config, p))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	var b strings.Builder
	b.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- " + rel("default") + "\ncomponents:\n")
	for _, c := range components {
		b.WriteString("- " + rel(c) + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// object is one document of a rendered kustomization.
type object struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	doc []byte
}

// ref is how kubectl names it: kind.group/name, as kubectl apply prints it.
func (o object) ref() string {
	kind := strings.ToLower(o.Kind)
	if group, _, ok := strings.Cut(o.APIVersion, "/"); ok {
		kind += "." + group
	}
	return kind + "/" + o.Metadata.Name
}

// render runs `kubectl kustomize dir` (no cluster needed) and returns the
// YAML and its objects.
func render(t *testing.T, dir string) ([]byte, []object) {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		kubectl = "/usr/bin/kubectl"
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), kubectl, "kustomize", dir)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(out)))
	var objs []object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("kubectl kustomize %s: %v", dir, err)
		}
		var o object
		if err := yaml.Unmarshal(doc, &o); err != nil {
			t.Fatalf("kubectl kustomize %s: %v", dir, err)
		}
		if o.Kind == "" {
			continue
		}
		o.doc = doc
		objs = append(objs, o)
	}
	if len(objs) == 0 {
		t.Fatalf("kubectl kustomize %s: got no objects", dir)
	}
	return out, objs
}

// writeFile writes data to a new file in a temporary directory.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// crdName is the metadata.name of the CRD in file.
func crdName(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var crd object
	if err := yaml.Unmarshal(data, &crd); err != nil || crd.Kind != "CustomResourceDefinition" {
		t.Fatalf("%s: got kind %q (%v), want one CustomResourceDefinition", file, crd.Kind, err)
	}
	return crd.Metadata.Name
}

// warnings are the lines of kubectl's stderr that carry a warning from the
// API server (deprecated or unknown fields, Pod Security, ...).
func warnings(stderr string) []string {
	var w []string
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "Warning:") {
			w = append(w, strings.TrimSpace(line))
		}
	}
	return w
}

// eventually retries check until it returns "" or the deadline passes, and
// fails the test with its last answer.
func eventually(t *testing.T, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s", what, msg)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
