package v1alpha1

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestDefaultsGolden pins every default: a changed default is a visible
// diff in review, never a silent behaviour change.
func TestDefaultsGolden(t *testing.T) {
	cases := map[string]func(t *testing.T) *Configuration{
		"defaults.golden.yaml": func(*testing.T) *Configuration { return Defaulted() },
		"issuer-minimal.golden.yaml": func(t *testing.T) *Configuration {
			cfg, err := LoadFile(filepath.Join("testdata", "issuer-minimal.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			return cfg
		},
	}
	for golden, build := range cases {
		t.Run(golden, func(t *testing.T) {
			got, err := yaml.Marshal(build(t))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", golden)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("reading golden file (run go test -update to create it): %v", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Fatalf("defaults changed (-want +got); run go test -update if intended:\n%s", diff)
			}
		})
	}
}

func TestSetDefaultsIsIdempotentAndKeepsUserValues(t *testing.T) {
	prefix := "custom/"
	cfg := &Configuration{Issuers: []Issuer{{Name: "a", URL: "https://a", Mapping: Mapping{Prefix: &prefix}, Algorithms: []string{"ES384"}}}}
	SetDefaults(cfg)
	once, _ := yaml.Marshal(cfg)
	SetDefaults(cfg)
	twice, _ := yaml.Marshal(cfg)
	if diff := cmp.Diff(string(once), string(twice)); diff != "" {
		t.Fatalf("SetDefaults is not idempotent:\n%s", diff)
	}
	if got := *cfg.Issuers[0].Mapping.Prefix; got != prefix {
		t.Fatalf("got prefix %q, want the user's %q", got, prefix)
	}
	if got := cfg.Issuers[0].Algorithms; len(got) != 1 || got[0] != "ES384" {
		t.Fatalf("got algorithms %v, want the user's [ES384]", got)
	}
}
