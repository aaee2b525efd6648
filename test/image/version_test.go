package image

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const repoRoot = "../.."

// TestVersionsAgree: the version this tree builds (VERSION), the one the
// changelog describes first, and the image tag config/default deploys are
// one version, so that a release cannot deploy the previous image.
func TestVersionsAgree(t *testing.T) {
	version := strings.TrimSpace(readRepoFile(t, "VERSION"))
	if !regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`).MatchString(version) {
		t.Fatalf("VERSION holds %q, want a semantic version such as v0.1.0", version)
	}
	if got := firstChangelogVersion(t); got != version {
		t.Errorf("CHANGELOG.md's first entry is %q, VERSION is %q: they must be the same", got, version)
	}
	if got := overlayTag(t); got != version {
		t.Errorf("config/default/kustomization.yaml deploys tokenfed:%s, VERSION is %q: set newTag to %s", got, version, version)
	}
}

// firstChangelogVersion is the version of the first "## [vX.Y.Z]" heading.
func firstChangelogVersion(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^## \[(v[^\]]+)\]`).FindStringSubmatch(readRepoFile(t, "CHANGELOG.md"))
	if m == nil {
		t.Fatal(`CHANGELOG.md has no "## [vX.Y.Z]" entry`)
	}
	return m[1]
}

// overlayTag is the newTag config/default gives the image named tokenfed.
func overlayTag(t *testing.T) string {
	t.Helper()
	var k struct {
		Images []struct {
			Name, NewName, NewTag string
		}
	}
	if err := yaml.Unmarshal([]byte(readRepoFile(t, "config/default/kustomization.yaml")), &k); err != nil {
		t.Fatal(err)
	}
	for _, img := range k.Images {
		if img.Name == "tokenfed" {
			return img.NewTag
		}
	}
	t.Fatal("config/default/kustomization.yaml sets no image for tokenfed")
	return ""
}

func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
