package e2e

import (
	"os"
	"strings"
	"testing"
)

// TestRevocationDocRBAC: docs/revocation.md quotes the ClusterRoles of
// config/upstream-rbac verbatim, which are the ones the e2e tests grant
// tokenfed, so the documented grants are the tested ones.
func TestRevocationDocRBAC(t *testing.T) {
	doc, err := os.ReadFile("../../docs/revocation.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{revocationRole, revocationSecretsRole} {
		role, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(doc), "```yaml\n"+string(role)+"```") {
			t.Errorf("docs/revocation.md lacks %s, verbatim:\n%s", file, role)
		}
	}
}
