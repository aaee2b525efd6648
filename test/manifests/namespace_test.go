package manifests

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestUpstreamRBACLeavesTokenfedAlone: in a cluster that is both tokenfed's
// home and an upstream, config/upstream-rbac applied after config/default
// keeps tokenfed's namespace as config/default made it (its Pod Security
// label included), and deleting config/upstream-rbac deletes none of
// config/default's objects. Both for real, with kubectl's client-side
// apply, as the READMEs say to.
func TestUpstreamRBACLeavesTokenfedAlone(t *testing.T) {
	c := startCluster(t, "namespaces")
	def, upstream := filepath.Join(configDir(t), "default"), filepath.Join(configDir(t), "upstream-rbac")
	_, defObjs := render(t, def)
	_, upObjs := render(t, upstream)
	var tokenfedNS string
	for _, o := range defObjs {
		if o.Kind == "Namespace" {
			tokenfedNS = o.Metadata.Name
		}
	}
	if tokenfedNS == "" {
		t.Fatal("config/default: got no Namespace")
	}

	c.kubectl(t, "apply", "-k", def)
	const psa = "pod-security.kubernetes.io/enforce"
	want := "restricted"
	if got := namespaceLabels(t, c, tokenfedNS)[psa]; got != want {
		t.Fatalf("after apply -k config/default: namespace %s label %s: got %q, want %q", tokenfedNS, psa, got, want)
	}

	_, stderr := c.kubectl(t, "apply", "-k", upstream)
	if w := warnings(stderr); len(w) > 0 {
		t.Errorf("apply -k config/upstream-rbac: got warnings, want none:\n%s", strings.Join(w, "\n"))
	}
	if got := namespaceLabels(t, c, tokenfedNS)[psa]; got != want {
		t.Errorf("after apply -k config/upstream-rbac: namespace %s label %s: got %q, want %q", tokenfedNS, psa, got, want)
	}

	// No namespace controller runs here, so a deleted namespace stays
	// Terminating: do not wait for it, and look at deletionTimestamp.
	c.kubectl(t, "delete", "-k", upstream, "--wait=false")
	for _, o := range defObjs {
		if gone := deleting(t, c, o); gone != "" {
			t.Errorf("after delete -k config/upstream-rbac: %s of config/default: %s", o.ref(), gone)
		}
	}
	if got := namespaceLabels(t, c, tokenfedNS)[psa]; got != want {
		t.Errorf("after delete -k config/upstream-rbac: namespace %s label %s: got %q, want %q", tokenfedNS, psa, got, want)
	}
	// And the upstream's own objects did go.
	for _, o := range upObjs {
		eventually(t, "after delete -k config/upstream-rbac: "+o.ref(), func() string {
			if deleting(t, c, o) == "" {
				return "still there, want deleted"
			}
			return ""
		})
	}
}

// namespaceLabels returns the labels of namespace name.
func namespaceLabels(t *testing.T, c *cluster, name string) map[string]string {
	t.Helper()
	out, _ := c.kubectl(t, "get", "namespace", name, "-o", "json")
	var ns struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal([]byte(out), &ns); err != nil {
		t.Fatal(err)
	}
	return ns.Metadata.Labels
}

// deleting says whether o is gone or being deleted, "" when it is neither.
func deleting(t *testing.T, c *cluster, o object) string {
	t.Helper()
	args := []string{"get", o.ref(), "-o", "json", "--ignore-not-found"}
	if o.Metadata.Namespace != "" {
		args = append(args, "-n", o.Metadata.Namespace)
	}
	out, _ := c.kubectl(t, args...)
	if strings.TrimSpace(out) == "" {
		return "deleted"
	}
	var got struct {
		Metadata struct {
			DeletionTimestamp string `json:"deletionTimestamp"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Metadata.DeletionTimestamp != "" {
		return fmt.Sprintf("being deleted since %s", got.Metadata.DeletionTimestamp)
	}
	return ""
}
