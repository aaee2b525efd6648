package e2e

import (
	"os"
	"strings"
	"testing"
)

// TestRevocationDocRBAC: docs/revocation.md gives exactly the ClusterRoles
// the e2e tests grant tokenfed, so the documented grants are the tested
// ones.
func TestRevocationDocRBAC(t *testing.T) {
	doc, err := os.ReadFile("../../docs/revocation.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{revocationRBAC, revocationSecretsRBAC} {
		if !strings.Contains(string(doc), "```yaml\n"+role+"```") {
			t.Errorf("docs/revocation.md lacks this ClusterRole, verbatim:\n%s", role)
		}
	}
}
