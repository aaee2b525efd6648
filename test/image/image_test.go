package image

import (
	"archive/tar"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// The platforms `make image` builds; the host's is among them, so its
// binary can be run here.
var platforms = []string{"amd64", "arm64"}

const (
	binaryPath = "usr/local/bin/tokenfed"
	nonroot    = "65532:65532"
)

// TestImage opens the OCI layout `make image` wrote, finds this version's
// index, and checks every platform's image: its config, and its files
// unpacked into a temporary directory.
func TestImage(t *testing.T) {
	version := requireEnv(t, "TOKENFED_VERSION", versionByHand)
	idx := versionIndex(t, requireEnv(t, "TOKENFED_IMAGE", imageByHand), version)
	anns := checkAnnotations(t, "the index", indexAnnotations(t, idx), version)
	manifest, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(manifest.Manifests) != len(platforms) {
		t.Errorf("the index has %d images, want one per platform %v", len(manifest.Manifests), platforms)
	}
	for _, arch := range platforms {
		t.Run(arch, func(t *testing.T) {
			img := platformImage(t, idx, manifest, arch)
			checkConfig(t, img, arch, version)
			root := unpack(t, img)
			checkFiles(t, root, arch)
			if arch == runtime.GOARCH {
				checkRuns(t, root, version, anns["org.opencontainers.image.revision"])
			}
		})
	}
}

// versionIndex is the image index in the layout at dir named version.
func versionIndex(t *testing.T, dir, version string) v1.ImageIndex {
	t.Helper()
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatalf("no OCI layout at %s: run `make image`: %v", dir, err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		t.Fatalf("reading %s/index.json: %v", dir, err)
	}
	m, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range m.Manifests {
		ref := d.Annotations["org.opencontainers.image.ref.name"]
		if ref == version {
			idx, err := top.ImageIndex(d.Digest)
			if err != nil {
				t.Fatalf("%s: %s is not an image index: %v", dir, version, err)
			}
			return idx
		}
		names = append(names, ref)
	}
	t.Fatalf("%s holds %v, not version %s: run `make image` again", dir, names, version)
	return nil
}

func indexAnnotations(t *testing.T, idx v1.ImageIndex) map[string]string {
	t.Helper()
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	return m.Annotations
}

// checkAnnotations checks the OCI annotations (or labels) that say what
// the image is and where it came from.
func checkAnnotations(t *testing.T, what string, anns map[string]string, version string) map[string]string {
	t.Helper()
	for _, key := range []string{"title", "description", "version", "revision", "source", "created"} {
		if anns["org.opencontainers.image."+key] == "" {
			t.Errorf("%s has no org.opencontainers.image.%s (it has %v)", what, key, anns)
		}
	}
	if got := anns["org.opencontainers.image.version"]; got != version {
		t.Errorf("%s says version %q, want %q", what, got, version)
	}
	return anns
}

func platformImage(t *testing.T, idx v1.ImageIndex, m *v1.IndexManifest, arch string) v1.Image {
	t.Helper()
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == arch {
			img, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			return img
		}
	}
	t.Fatalf("the index has no linux/%s image", arch)
	return nil
}

// checkConfig checks how the image runs: as 65532, tokenfed found both by
// its entrypoint and on PATH (the Deployment's command is "tokenfed").
func checkConfig(t *testing.T, img v1.Image, arch, version string) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != arch {
		t.Errorf("config is for %s/%s, want linux/%s", cf.OS, cf.Architecture, arch)
	}
	c := cf.Config
	if c.User != nonroot {
		t.Errorf("config User is %q, want %q (non-root, as the Deployment's runAsUser)", c.User, nonroot)
	}
	if len(c.Entrypoint) != 1 || c.Entrypoint[0] != "/"+binaryPath {
		t.Errorf("config Entrypoint is %q, want [/%s]", c.Entrypoint, binaryPath)
	}
	if !envPathHas(c.Env, "/usr/local/bin") {
		t.Errorf("config Env %q has no PATH with /usr/local/bin: the Deployment's command \"tokenfed\" would not be found", c.Env)
	}
	checkAnnotations(t, "the config labels", c.Labels, version)
	if m, err := img.Manifest(); err != nil {
		t.Fatal(err)
	} else {
		checkAnnotations(t, "the manifest", m.Annotations, version)
	}
}

func envPathHas(env []string, dir string) bool {
	for _, kv := range env {
		if path, ok := strings.CutPrefix(kv, "PATH="); ok {
			for _, d := range filepath.SplitList(path) {
				if d == dir {
					return true
				}
			}
		}
	}
	return false
}

// checkFiles checks the unpacked files: a static binary for arch, the
// nonroot user, and a CA bundle Go can use.
func checkFiles(t *testing.T, root, arch string) {
	t.Helper()
	if err := checkStaticELF(filepath.Join(root, binaryPath), elfMachine(t, arch)); err != nil {
		t.Error(err)
	}
	passwd := readFile(t, root, "etc/passwd")
	if !strings.Contains(passwd, "\nnonroot:x:65532:65532:") {
		t.Errorf("etc/passwd does not map 65532 to nonroot:\n%s", passwd)
	}
	if group := readFile(t, root, "etc/group"); !strings.Contains(group, "nonroot:x:65532:") {
		t.Errorf("etc/group has no nonroot group 65532:\n%s", group)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(readFile(t, root, "etc/ssl/certs/ca-certificates.crt"))) {
		t.Error("etc/ssl/certs/ca-certificates.crt holds no certificate Go can parse")
	}
}

// checkRuns runs the image's binary on this host, as the container would,
// and checks it is the version and commit the image says.
func checkRuns(t *testing.T, root, version, revision string) {
	t.Helper()
	out, err := exec.Command(filepath.Join(root, binaryPath), "version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s version: %v\n%s", binaryPath, err, out)
	}
	want := fmt.Sprintf("tokenfed %s (commit %s,", version, revision)
	if !strings.HasPrefix(string(out), want) {
		t.Errorf("%s version printed %q, want it to start %q", binaryPath, out, want)
	}
	t.Logf("the image's binary: %s", strings.TrimSpace(string(out)))
}

// unpack extracts the image's flattened filesystem into a temporary
// directory, refusing anything that would land outside it.
func unpack(t *testing.T, img v1.Image) string {
	t.Helper()
	root := t.TempDir()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return root
		}
		if err != nil {
			t.Fatalf("reading the image's layers: %v", err)
		}
		if err := unpackEntry(root, hdr, tr); err != nil {
			t.Fatal(err)
		}
	}
}

func unpackEntry(root string, hdr *tar.Header, r io.Reader) error {
	if !filepath.IsLocal(hdr.Name) {
		return fmt.Errorf("the image has an entry outside its root: %q", hdr.Name)
	}
	path := filepath.Join(root, hdr.Name)
	switch hdr.Typeflag {
	case tar.TypeDir:
		return os.MkdirAll(path, 0o755)
	case tar.TypeReg:
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(hdr.Mode).Perm()|0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, r)
		return errors.Join(err, f.Close())
	default:
		return fmt.Errorf("the image has %q of tar type %c; it should hold only files and directories", hdr.Name, hdr.Typeflag)
	}
}

func readFile(t *testing.T, root, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatalf("the image has no %s: %v", name, err)
	}
	return string(b)
}
