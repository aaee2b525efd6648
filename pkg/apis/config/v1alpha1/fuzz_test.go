package v1alpha1

// A fuzz target for the strict configuration loader. `make fuzz` runs it
// for a set time; `go test` runs its seeds and every crasher kept in
// testdata/fuzz/ as regular tests.
//
// Invariants, checked on every input:
//   - neither decoding nor validating panics;
//   - DecodePartial either refuses the input as no configuration at all
//     (an error, and nothing else) or returns a configuration and field
//     errors that each name a field path; Decode agrees with it;
//   - a configuration that loads validates, or every error names its field
//     path;
//   - load(marshal(load(x))) equals load(x), and validates alike: marshalled
//     as JSON (which is YAML), and as tokenfed writes configurations
//     (sigs.k8s.io/yaml) unless that emitter refuses the configuration's
//     strings, as it refuses control characters.

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

func FuzzDecode(f *testing.F) {
	for _, s := range configSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := checkDecodePartial(t, data)
		if cfg == nil {
			return
		}
		checkValidate(t, "the configuration", cfg)
		checkReload(t, cfg)
	})
}

// configSeeds are the files in testdata, every configuration of the
// validation tables (validationCases, prefixCases) as tokenfed would write
// it, and the shapes the decoding tests refuse.
func configSeeds(f *testing.F) [][]byte {
	files, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("got testdata files %v, %v, want the minimal and golden configurations", files, err)
	}
	var seeds [][]byte
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, data)
	}
	mutations := make([]func(*Configuration), 0, len(validationCases)+len(prefixCases))
	for _, tc := range validationCases {
		mutations = append(mutations, tc.mutate)
	}
	for _, tc := range prefixCases {
		mutations = append(mutations, func(c *Configuration) {
			c.Issuers[0].Mapping.Prefix, c.Issuers[1].Mapping.Prefix = &tc.prefix[0], &tc.prefix[1]
		})
	}
	for _, mutate := range mutations {
		cfg, err := LoadFile(filepath.Join("testdata", "issuer-minimal.yaml"))
		if err != nil {
			f.Fatal(err)
		}
		mutate(cfg)
		// YAML as tokenfed writes it, or JSON where the YAML emitter
		// refuses a string (a control character).
		data, err := yaml.Marshal(cfg)
		if err != nil {
			data, err = json.Marshal(cfg)
		}
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, data)
	}
	for _, s := range []string{
		"", " \n\t\n", "# nothing\n", "{[", "- a\n", "tokenfed\n", "null\n",
		header + "server:\n  readTimeout: 5parsecs\n  securePort: \"abc\"\n  writeTimeout: 1y\n",
		header + "cache:\n  successTTL: 120\n  maxEntries: 3000000000\n",
		header + "callers:\n  allowAnonymous: \"true\"\n  authorization:\n    static:\n    - name: a\n      rateLimit: {qps: fast}\n",
		header + "server:\n- 1\nissuers:\n  name: a\n",
		header + "issuers:\n- name: a\n  audiences: [x, 5, [y]]\n  claimMappings:\n    username: {claim: 5}\n    groups: {claimm: g}\n",
		header + "server:\n  tlsCertFile: a\n  tlsCertFile: b\ncache: {}\ncache: {}\n",
		`{"apiVersion": "tokenfed.io/v1alpha1", "kind": "Configuration", "server": {"securePort": 1, "securePort": 2}}`,
		"apiVersion: tokenfed.io/v2\nkind: Config\n", "apiVersion: tokenfed.io/v1alpha1\nkind: 5\n",
		header + "server:\n  readTimeout:\n  securePort: null\ncache:\n",
		header + "---\n" + header, header + "---\na: b: c\n", header + "---\n",
		header + "base: &b {name: a, url: 'https://a'}\nissuers:\n- *b\n- <<: *b\n  name: c\n",
	} {
		seeds = append(seeds, []byte(s))
	}
	return seeds
}

// checkDecodePartial returns the loaded configuration, or nil when the
// input does not load.
func checkDecodePartial(t *testing.T, data []byte) *Configuration {
	t.Helper()
	cfg, errs, err := DecodePartial(data)
	decoded, decodeErr := Decode(data)
	switch {
	case err != nil:
		if cfg != nil || errs != nil {
			t.Fatalf("DecodePartial: got a configuration and %d field errors beside the error %v, want only the error", len(errs), err)
		}
		if decoded != nil || decodeErr == nil || decodeErr.Error() != err.Error() {
			t.Fatalf("Decode: got error %v, want DecodePartial's %v", decodeErr, err)
		}
		return nil
	case cfg == nil:
		t.Fatal("DecodePartial: got neither a configuration nor an error")
	}
	checkFieldPaths(t, "DecodePartial", errs)
	if len(errs) > 0 {
		var de *DecodeError
		if decoded != nil || !errors.As(decodeErr, &de) || len(de.Errors) != len(errs) {
			t.Fatalf("Decode: got error %v, want a *DecodeError of DecodePartial's %d errors", decodeErr, len(errs))
		}
		checkValidate(t, "a partly decoded configuration", cfg)
		return nil
	}
	if decodeErr != nil || !cmp.Equal(cfg, decoded) {
		t.Fatalf("Decode: got error %v or another configuration than DecodePartial's", decodeErr)
	}
	return cfg
}

func checkValidate(t *testing.T, what string, cfg *Configuration) field.ErrorList {
	t.Helper()
	errs := Validate(cfg)
	checkFieldPaths(t, "Validate("+what+")", errs)
	return errs
}

func checkFieldPaths(t *testing.T, fn string, errs field.ErrorList) {
	t.Helper()
	for _, e := range errs {
		if e == nil || e.Field == "" || e.Type == "" {
			t.Fatalf("%s: got error %v without a field path", fn, e)
		}
	}
}

// checkReload writes cfg as JSON and as YAML, and loads each again.
func checkReload(t *testing.T, cfg *Configuration) {
	t.Helper()
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatalf("marshalling a loaded configuration as JSON: %v", err)
	}
	checkReloaded(t, cfg, data)
	data, err = yaml.Marshal(cfg)
	switch {
	case err != nil && strings.Contains(err.Error(), "control characters are not allowed"):
		// go-yaml's emitter writes no control character, even escaped;
		// JSON above carries them.
		return
	case err != nil:
		t.Fatalf("marshalling a loaded configuration as YAML: %v", err)
	}
	checkReloaded(t, cfg, data)
}

// checkReloaded loads data, cfg marshalled: the same configuration, with
// the same validation errors.
func checkReloaded(t *testing.T, cfg *Configuration, data []byte) {
	t.Helper()
	again, err := Decode(data)
	if err != nil {
		t.Fatalf("a loaded configuration, marshalled, does not load: %v\n%s", err, data)
	}
	// A list or map written empty is left out, and reads back nil: to the
	// configuration the two are the same.
	if diff := cmp.Diff(cfg, again, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("load(marshal(load(x))) differs from load(x) (-load(x) +again):\n%s\nmarshalled:\n%s", diff, data)
	}
	if cmp.Equal(cfg, again) {
		// Validate reads nothing but the configuration: it validates alike.
		return
	}
	want, got := errorStrings(Validate(cfg)), errorStrings(checkValidate(t, "the reloaded configuration", again))
	if !slices.Equal(want, got) {
		t.Fatalf("the reloaded configuration validates to %q, the loaded one to %q", got, want)
	}
}

func errorStrings(errs field.ErrorList) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Error()
	}
	return out
}
