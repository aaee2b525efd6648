package manifests

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestServerSideDryRun renders every kustomization under config/, and
// config/default with each component and with all of them, and has a real
// kube-apiserver validate each with `kubectl apply --dry-run=server
// --validate=strict`: schemas, CRDs included, admission (Pod Security of
// the restricted namespace for the pod template), and no warning at all.
func TestServerSideDryRun(t *testing.T) {
	overlays, components := kustomizations(t)
	c := startCluster(t, "dryrun")
	targets := map[string]string{}
	for _, o := range overlays {
		targets[o] = filepath.Join(configDir(t), o)
	}
	for _, comp := range components {
		targets["default+"+filepath.Base(comp)] = componentOverlay(t, comp)
	}
	targets["default+all components"] = componentOverlay(t, components...)
	targets["deploy.md example overlay"] = docOverlay(t)
	for _, name := range slices.Sorted(maps.Keys(targets)) {
		dir := targets[name]
		t.Run(name, func(t *testing.T) {
			yml, objs := render(t, dir)
			// Namespaced objects can be dry-run only into a namespace that
			// exists, so the namespaces are created for real first: the
			// build's own Namespaces as they are (and dry-run again with the
			// rest), and a bare one for a base such as config/certmanager
			// that only uses tokenfed's.
			declared, used := map[string][]byte{}, map[string]bool{}
			for _, o := range objs {
				if o.Kind == "Namespace" {
					declared[o.Metadata.Name] = o.doc
				}
				if o.Metadata.Namespace != "" {
					used[o.Metadata.Namespace] = true
				}
			}
			for ns := range used {
				if _, ok := declared[ns]; !ok {
					declared[ns] = []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + ns + "\n")
				}
			}
			var namespaces bytes.Buffer
			for _, doc := range declared {
				namespaces.WriteString("---\n")
				namespaces.Write(doc)
			}
			if namespaces.Len() > 0 {
				c.kubectl(t, "apply", "-f", writeFile(t, "namespaces.yaml", namespaces.Bytes()))
			}
			stdout, stderr := c.kubectl(t, "apply", "--dry-run=server", "--validate=strict", "-f", writeFile(t, "build.yaml", yml))
			if w := warnings(stderr); len(w) > 0 {
				t.Errorf("got warnings, want none:\n%s", strings.Join(w, "\n"))
			}
			// One line per object, each "(server dry run)".
			for _, o := range objs {
				if !strings.Contains(stdout, o.ref()+" ") {
					t.Errorf("kubectl apply said nothing about %s:\n%s", o.ref(), stdout)
				}
			}
			if n := strings.Count(stdout, "(server dry run)"); n != len(objs) {
				t.Errorf("got %d objects dry-run, want %d:\n%s", n, len(objs), stdout)
			}
		})
	}
}

// docOverlay writes the example overlay of docs/deploy.md ("Your
// overlay"), with its paths to config/ made to work from a temporary
// directory, and returns that directory.
func docOverlay(t *testing.T) string {
	t.Helper()
	config := configDir(t)
	doc, err := os.ReadFile(filepath.Join(config, "..", "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n# deploy/tokenfed/kustomization.yaml\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/deploy.md: got no yaml block starting with # deploy/tokenfed/kustomization.yaml")
	}
	dir := t.TempDir()
	rel, err := filepath.Rel(dir, config)
	if err != nil {
		t.Fatal(err)
	}
	k := strings.ReplaceAll(string(m[1]), "../../config/", rel+"/")
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}
