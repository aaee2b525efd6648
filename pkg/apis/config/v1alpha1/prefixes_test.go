package v1alpha1

import (
	"path/filepath"
	"strings"
	"testing"
)

// prefixCases: prefixes are printable ASCII, so comparing them without
// regard to case is ASCII lower-casing, and no pair that Unicode folding or
// NFKC would equate (as the run-time check does) can both be valid.
var prefixCases = []struct {
	name   string
	prefix [2]string // issuers[0] and issuers[1]
	want   string    // "" means valid
}{
	{"ASCII punctuation", [2]string{"hub:", "cluster-a/"}, ""},
	{"long s (U+017F) spelling system:", [2]string{"hub:", "\u017fystem:"}, `issuers[1].mapping.prefix: Invalid value: "ſystem:": must be printable ASCII without spaces`},
	{"long s (U+017F) spelling another prefix", [2]string{"staging:", "\u017ftaging:"}, `issuers[1].mapping.prefix: Invalid value: "ſtaging:": must be printable ASCII`},
	{"Kelvin sign", [2]string{"hub:", "\u212aube:"}, `issuers[1].mapping.prefix: Invalid value`},
	{"fullwidth letters", [2]string{"\uff48\uff55\uff42:", "corp:"}, `issuers[0].mapping.prefix: Invalid value`},
	{"accented letter", [2]string{"hub:", "caf\u00e9:"}, `issuers[1].mapping.prefix: Invalid value`},
	{"soft hyphen", [2]string{"hub:", "co\u00adrp:"}, `issuers[1].mapping.prefix: Invalid value`},
	{"space", [2]string{"hub:", "corp :"}, `issuers[1].mapping.prefix: Invalid value`},
	{"tab", [2]string{"hub:", "corp\t"}, `issuers[1].mapping.prefix: Invalid value`},
	{"control character", [2]string{"hub:", "corp\x00:"}, `issuers[1].mapping.prefix: Invalid value`},
	{"DEL", [2]string{"hub:", "corp\x7f"}, `issuers[1].mapping.prefix: Invalid value`},
}

func TestValidatePrefixCharacters(t *testing.T) {
	for _, tc := range prefixCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := LoadFile(filepath.Join("testdata", "issuer-minimal.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			cfg.Issuers[0].Mapping.Prefix, cfg.Issuers[1].Mapping.Prefix = &tc.prefix[0], &tc.prefix[1]
			got := Validate(cfg).ToAggregate()
			switch {
			case tc.want == "" && got != nil:
				t.Fatalf("got %v, want valid", got)
			case tc.want != "" && (got == nil || !strings.Contains(got.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", got, tc.want)
			}
		})
	}
}
