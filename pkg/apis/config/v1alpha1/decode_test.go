package v1alpha1

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation/field"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// header is the first two lines of every configuration below.
const header = "apiVersion: tokenfed.io/v1alpha1\nkind: Configuration\n"

const durationHelp = " (a duration such as 30s, 5m or 1h30m; units ns, us, ms, s, m, h)"

// TestDecodePartialErrors: every decoding problem is reported, each with
// its field path, in the order of the file.
func TestDecodePartialErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want []string
	}{{
		name: "a bad duration",
		yaml: header + "server:\n  readTimeout: 5parsecs\n",
		want: []string{`server.readTimeout: Invalid value: "5parsecs": time: unknown unit "parsecs" in duration "5parsecs"` + durationHelp},
	}, {
		name: "a duration in days",
		yaml: header + "issuers:\n- name: a\n  fetch:\n    maxStaleness: 2d\n",
		want: []string{`issuers[0].fetch.maxStaleness: Invalid value: "2d": time: unknown unit "d" in duration "2d"` + durationHelp},
	}, {
		name: "a number for a duration",
		yaml: header + "cache:\n  successTTL: 120\n",
		want: []string{`cache.successTTL: Invalid value: 120: expected a duration such as 30s, 5m or 1h30m, got an integer`},
	}, {
		name: "a string for an integer",
		yaml: header + "server:\n  securePort: \"abc\"\n",
		want: []string{`server.securePort: Invalid value: "abc": expected an integer, got a string`},
	}, {
		name: "a fraction for an integer",
		yaml: header + "server:\n  securePort: 8443.5\n",
		want: []string{`server.securePort: Invalid value: 8443.5: expected an integer, got a number`},
	}, {
		name: "an integer out of range",
		yaml: header + "cache:\n  maxEntries: 3000000000\n",
		want: []string{`cache.maxEntries: Invalid value: 3000000000: must be between -2147483648 and 2147483647`},
	}, {
		name: "a quoted boolean",
		yaml: header + "callers:\n  allowAnonymous: \"true\"\n",
		want: []string{`callers.allowAnonymous: Invalid value: "true": expected a boolean (true or false), got a string`},
	}, {
		name: "a string for a number",
		yaml: header + "callers:\n  authorization:\n    static:\n    - name: a\n      rateLimit: {qps: fast}\n",
		want: []string{`callers.authorization.static[0].rateLimit.qps: Invalid value: "fast": expected a number, got a string`},
	}, {
		name: "a list for a mapping",
		yaml: header + "server:\n- 1\n",
		want: []string{`server: Invalid value: expected a mapping, got a list`},
	}, {
		name: "a mapping for a list",
		yaml: header + "issuers:\n  name: a\n",
		want: []string{`issuers: Invalid value: expected a list, got a mapping`},
	}, {
		name: "a scalar for a list element",
		yaml: header + "issuers:\n- name: a\n  audiences: [x, 5, [y]]\n",
		want: []string{
			`issuers[0].audiences[1]: Invalid value: 5: expected a string, got an integer`,
			`issuers[0].audiences[2]: Invalid value: expected a string, got a list`,
		},
	}, {
		name: "in kube-apiserver's types",
		yaml: header + "issuers:\n- name: a\n  claimMappings:\n    username: {claim: 5}\n    groups: {claimm: g}\n",
		want: []string{
			`issuers[0].claimMappings.username.claim: Invalid value: 5: expected a string, got an integer`,
			`issuers[0].claimMappings.groups.claimm: Forbidden: unknown field; did you mean "claim"?`,
		},
	}, {
		name: "unknown fields",
		yaml: header + "server:\n  securePorts: 9\n  colour: blue\nissuers:\n- name: a\n  jwksUrl: https://a\nissuer: []\n",
		want: []string{
			`server.securePorts: Forbidden: unknown field; did you mean "securePort"?`,
			`server.colour: Forbidden: unknown field`,
			`issuers[0].jwksUrl: Forbidden: unknown field; did you mean "jwksURL"?`,
			`issuer: Forbidden: unknown field; did you mean "issuers"?`,
		},
	}, {
		name: "duplicate keys",
		yaml: header + "server:\n  tlsCertFile: a\n  tlsCertFile: b\ncache: {}\ncache: {}\n",
		want: []string{
			`server.tlsCertFile: Duplicate value: the key is on lines 4 and 5; give it once`,
			`cache: Duplicate value: the key is on lines 6 and 7; give it once`,
		},
	}, {
		name: "duplicate keys in JSON",
		yaml: `{"apiVersion": "tokenfed.io/v1alpha1", "kind": "Configuration", "server": {"securePort": 1, "securePort": 2}}`,
		want: []string{`server.securePort: Duplicate value: the key is on lines 1 and 1; give it once`},
	}, {
		name: "wrong apiVersion and kind",
		yaml: "apiVersion: tokenfed.io/v2\nkind: Config\n",
		want: []string{
			`apiVersion: Unsupported value: "tokenfed.io/v2": supported values: "tokenfed.io/v1alpha1"`,
			`kind: Unsupported value: "Config": supported values: "Configuration"`,
		},
	}, {
		name: "no apiVersion and kind",
		yaml: "server: {}\n",
		want: []string{
			`apiVersion: Required value: must be "tokenfed.io/v1alpha1"`,
			`kind: Required value: must be "Configuration"`,
		},
	}, {
		name: "a number for kind",
		yaml: "apiVersion: tokenfed.io/v1alpha1\nkind: 5\n",
		want: []string{`kind: Invalid value: 5: expected a string, got an integer`},
	}, {
		// Of a duplicate key, the last value is decoded (and so checked);
		// on one line, fields come in the order of the type.
		name: "all of them, in the order of the file",
		yaml: header + "server:\n  readTimeout: 5parsecs\n  securePort: 1\n  securePort: \"abc\"\n  writeTimeout: 1y\n" +
			"issuers:\n- name: a\n  upstream: {maxConcurrent: many, timeout: soon}\n  colour: blue\n",
		want: []string{
			`server.readTimeout: Invalid value: "5parsecs": time: unknown unit "parsecs" in duration "5parsecs"` + durationHelp,
			`server.securePort: Duplicate value: the key is on lines 5 and 6; give it once`,
			`server.securePort: Invalid value: "abc": expected an integer, got a string`,
			`server.writeTimeout: Invalid value: "1y": time: unknown unit "y" in duration "1y"` + durationHelp,
			`issuers[0].upstream.timeout: Invalid value: "soon": time: invalid duration "soon"` + durationHelp,
			`issuers[0].upstream.maxConcurrent: Invalid value: "many": expected an integer, got a string`,
			`issuers[0].colour: Forbidden: unknown field`,
		},
	}, {
		name: "null is the default",
		yaml: header + "server:\n  readTimeout:\n  securePort: null\ncache:\n",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, errs, err := DecodePartial([]byte(tc.yaml))
			if err != nil {
				t.Fatalf("got error %v, want field errors", err)
			}
			if cfg == nil {
				t.Fatal("got no configuration")
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDecodePartialKeepsTheRest: the fields that decode keep their
// values, those in error their defaults, and Decode refuses the file.
func TestDecodePartialKeepsTheRest(t *testing.T) {
	data := header + "server:\n  readTimeout: 5parsecs\n  writeTimeout: 7s\n  securePort: x\n  bindAddress: 127.0.0.1\n" +
		"issuers:\n- name: a\n  audiences: [x, 5]\n  colour: blue\n"
	cfg, errs, err := DecodePartial([]byte(data))
	if err != nil || len(errs) != 4 {
		t.Fatalf("got %v, %v, want 4 field errors", errs, err)
	}
	s := cfg.Server
	if s.ReadTimeout.Duration != DefaultReadTimeout || s.WriteTimeout.Duration != 7*time.Second || s.SecurePort != DefaultSecurePort || s.BindAddress != "127.0.0.1" {
		t.Errorf("got server %+v, want the default read timeout and port, and the file's write timeout and address", s)
	}
	if got := cfg.Issuers[0].Audiences; len(got) != 2 || got[0] != "x" || got[1] != "" {
		t.Errorf("got audiences %q, want [x \"\"]: an element in error stays in its place", got)
	}

	_, err = Decode([]byte(data))
	var de *DecodeError
	if !errors.As(err, &de) || len(de.Errors) != 4 {
		t.Fatalf("Decode: got %v, want a *DecodeError with the 4 errors", err)
	}
	if want := "4 errors:\n  server.readTimeout: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Decode: got %q, want it to start with %q", err, want)
	}
}

// TestDecodeNotAConfiguration: what is no configuration at all ends
// decoding with one error; a syntax error gives its line.
func TestDecodeNotAConfiguration(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"empty", "", "empty configuration"},
		{"blank", " \n\t\n", "empty configuration"},
		{"only comments", "# nothing\n", "empty configuration"},
		// The parser names the line of the mapping it was in.
		{"syntax error", header + "server:\n  readTimeout: 1s\n tlsCertFile: x\n", "not valid YAML: line 4: did not find expected key"},
		{"syntax error on the first line", "apiVersion: tokenfed.io/v1alpha1: x\nkind: Configuration\n", "not valid YAML: line 1: mapping values are not allowed in this context"},
		{"a tab", header + "server:\n\tsecurePort: 1\n", "not valid YAML: line 4: found character that cannot start any token"},
		{"unclosed", "{[", "not valid YAML: line 1: did not find expected node content"},
		{"two documents", header + "---\n" + header, "line 4: a second YAML document; a configuration file holds one (remove the --- line)"},
		{"a broken second document", header + "---\na: b: c\n", "a second YAML document follows the configuration, and it is not valid YAML: line 4: mapping values are not allowed in this context"},
		{"a list", "- apiVersion: tokenfed.io/v1alpha1\n", "a configuration is a mapping (apiVersion: tokenfed.io/v1alpha1, kind: Configuration, ...), not a list"},
		{"a string", "tokenfed\n", "a configuration is a mapping (apiVersion: tokenfed.io/v1alpha1, kind: Configuration, ...), not a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, errs, err := DecodePartial([]byte(tc.yaml))
			if err == nil || err.Error() != tc.want || cfg != nil || errs != nil {
				t.Fatalf("got %v, %v, error %v, want only the error %q", cfg, errs, err, tc.want)
			}
		})
	}
	// An empty document after the configuration is no second one.
	if _, err := Decode([]byte(header + "---\n")); err != nil {
		t.Errorf("a trailing ---: got %v, want no error", err)
	}
}

// TestDecodeAgreesWithStrictDecoding: on valid files, the walk changes
// nothing: the result is what the strict decoder gives.
func TestDecodeAgreesWithStrictDecoding(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("got %v, %v, want the testdata files", files, err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(data)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		jsonData, err := yaml.YAMLToJSONStrict(data)
		if err != nil {
			t.Fatal(err)
		}
		want := &Configuration{}
		if strict, err := kjson.UnmarshalStrict(jsonData, want); err != nil || len(strict) > 0 {
			t.Fatalf("%s: %v %v", file, strict, err)
		}
		SetDefaults(want)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-strict +Decode):\n%s", file, diff)
		}
	}
}

func TestLoadFileNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte(header+"server:\n  readTimeout: 5parsecs\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(path)
	want := "config " + path + `: 1 error:` + "\n" + `  server.readTimeout: Invalid value: "5parsecs": time: unknown unit "parsecs" in duration "5parsecs"` + durationHelp
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}

func TestUnder(t *testing.T) {
	for _, tc := range []struct {
		field, under string
		want         bool
	}{
		{"issuers[0]", "issuers[0]", true},
		{"issuers[0].url", "issuers[0]", true},
		{"issuers[0][1]", "issuers[0]", true},
		{"issuers[0]", "issuers", true},
		{"issuers[10].url", "issuers[1]", false},
		{"issuersX", "issuers", false},
		{"issuers", "issuers[0]", false},
	} {
		if got := Under(&field.Error{Field: tc.field}, tc.under); got != tc.want {
			t.Errorf("Under(%q, %q): got %v, want %v", tc.field, tc.under, got, tc.want)
		}
	}
}
