package v1alpha1

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation/field"
	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
)

// TestValidateOIDCPaths: kube-apiserver's JWTAuthenticator validation
// reports at tokenfed's own field paths, never at the internal
// JWTAuthenticator's (issuer.url, issuer.audiences, ...).
func TestValidateOIDCPaths(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Issuer)
		want   []string
	}{{
		name:   "issuer.audiences",
		mutate: func(is *Issuer) { is.Audiences = []string{"tokenfed", "tokenfed"} },
		want:   []string{`issuers[1].audiences[1]: Duplicate value: "tokenfed"`},
	}, {
		name: "claimValidationRules",
		mutate: func(is *Issuer) {
			is.ClaimValidationRules = []apiserverv1.ClaimValidationRule{{Claim: "a", Expression: "true"}, {}, {Claim: "b", Message: "m"}}
		},
		want: []string{
			`issuers[1].claimValidationRules[0]: Invalid value: "a": claim and expression can't both be set`,
			`issuers[1].claimValidationRules[1]: Required value: claim or expression is required`,
			`issuers[1].claimValidationRules[2].message: Invalid value: "m": may not be specified when claim is set`,
		},
	}, {
		name: "claimValidationRules, CEL",
		mutate: func(is *Issuer) {
			is.ClaimValidationRules = []apiserverv1.ClaimValidationRule{{Expression: "claims.("}}
		},
		want: []string{`issuers[1].claimValidationRules[0].expression: Invalid value: "claims.(": compilation failed: ERROR: <input>:1:8: Syntax error: no viable alternative at input '.('` +
			"\n | claims.(\n | .......^"},
	}, {
		name: "claimMappings",
		mutate: func(is *Issuer) {
			is.ClaimMappings = &apiserverv1.ClaimMappings{
				Username: apiserverv1.PrefixedClaimOrExpression{Claim: "email"},
				Groups:   apiserverv1.PrefixedClaimOrExpression{Claim: "groups", Expression: "claims.groups"},
				Extra:    []apiserverv1.ExtraMapping{{Key: "example.com/x"}, {Key: "kubernetes.io/x", ValueExpression: "'a'"}},
			}
		},
		want: []string{
			`issuers[1].claimMappings.username.prefix: Required value: prefix is required when claim is set. It can be set to an empty string to disable prefixing`,
			`issuers[1].claimMappings.groups: Invalid value: "": claim and expression can't both be set`,
			`issuers[1].claimMappings.extra[0].valueExpression: Required value`,
			`issuers[1].claimMappings.extra[1].key: Invalid value: "kubernetes.io/x": k8s.io, kubernetes.io and their subdomains are reserved for Kubernetes use`,
		},
	}, {
		name: "claimMappings, email without email_verified",
		mutate: func(is *Issuer) {
			is.ClaimMappings = &apiserverv1.ClaimMappings{Username: apiserverv1.PrefixedClaimOrExpression{Expression: "claims.email"}}
		},
		want: []string{`issuers[1].claimMappings.username.expression: Invalid value: "claims.email": claims.email_verified must be used in claimMappings.username.expression or claimMappings.extra[*].valueExpression or claimValidationRules[*].expression when claims.email is used in claimMappings.username.expression`},
	}, {
		name: "userValidationRules",
		mutate: func(is *Issuer) {
			is.UserValidationRules = []apiserverv1.UserValidationRule{{}, {Expression: "true"}, {Expression: "true"}}
		},
		want: []string{
			`issuers[1].userValidationRules[0].expression: Required value`,
			`issuers[1].userValidationRules[2].expression: Duplicate value: "true"`,
		},
	}, {
		// kube-apiserver refuses these too, in other words: the field is
		// reported once.
		name:   "issuer.url, already in error",
		mutate: func(is *Issuer) { is.URL = "https://login.example.com?tenant=1" },
		want:   []string{`issuers[1].url: Invalid value: "https://login.example.com?tenant=1": must not have user info, query or fragment`},
	}, {
		name:   "issuer.audienceMatchPolicy, already in error",
		mutate: func(is *Issuer) { is.Audiences, is.AudienceMatchPolicy = []string{"a", "b"}, "MatchAll" },
		want:   []string{`issuers[1].audienceMatchPolicy: Unsupported value: "MatchAll": supported values: "MatchAny"`},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := LoadFile(filepath.Join("testdata", "issuer-minimal.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			tc.mutate(&cfg.Issuers[1])
			var got []string
			for _, e := range Validate(cfg) {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestValidateOIDCMapsIssuerFields: the fields of the internal issuer,
// which Validate's own checks catch first, are mapped too, in the path and
// in the words of the detail.
func TestValidateOIDCMapsIssuerFields(t *testing.T) {
	is := &Issuer{Name: "corp", Type: IssuerTypeOIDC, URL: "https://login.example.com?tenant=1", AudienceMatchPolicy: "MatchAll"}
	p := field.NewPath("issuers").Index(3)
	var got []string
	for _, e := range validateOIDC(is, p) {
		got = append(got, e.Error())
	}
	want := []string{
		`issuers[3].url: Invalid value: "https://login.example.com?tenant=1": URL must not contain a query`,
		`issuers[3].audiences: Required value: at least one issuers[3].audiences is required`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}

	is.URL, is.Audiences = "https://login.example.com", []string{"a", "b"}
	got = nil
	for _, e := range validateOIDC(is, p) {
		got = append(got, e.Error())
	}
	want = []string{`issuers[3].audienceMatchPolicy: Invalid value: "MatchAll": audienceMatchPolicy must be MatchAny for multiple audiences`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestOIDCPath(t *testing.T) {
	p := field.NewPath("issuers").Index(2)
	for internal, want := range map[string]string{
		"issuer.url":                         "issuers[2].url",
		"issuer.audiences":                   "issuers[2].audiences",
		"issuer.audiences[1]":                "issuers[2].audiences[1]",
		"issuer.audienceMatchPolicy":         "issuers[2].audienceMatchPolicy",
		"issuer.discoveryURL":                "issuers[2]",
		"issuer.certificateAuthority":        "issuers[2]",
		"issuer":                             "issuers[2]",
		"":                                   "issuers[2]",
		"claimMappings.username.expression":  "issuers[2].claimMappings.username.expression",
		"claimValidationRules[0].expression": "issuers[2].claimValidationRules[0].expression",
		"userValidationRules[1].expression":  "issuers[2].userValidationRules[1].expression",
		"issuers":                            "issuers[2].issuers",
	} {
		if got := oidcPath(internal, p); got != want {
			t.Errorf("oidcPath(%q): got %q, want %q", internal, got, want)
		}
	}
}

// TestValidateNeverNamesInternalPaths: whatever kube-apiserver finds,
// no path of the internal JWTAuthenticator reaches the operator.
func TestValidateNeverNamesInternalPaths(t *testing.T) {
	cfg, err := LoadFile(filepath.Join("testdata", "issuer-minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	is := &cfg.Issuers[1]
	is.URL = "https://u@login.example.com#x"
	is.Audiences = []string{"a", "a", ""}
	is.AudienceMatchPolicy = "MatchAll"
	is.ClaimValidationRules = []apiserverv1.ClaimValidationRule{{}}
	errs := Validate(cfg)
	if len(errs) < 4 {
		t.Fatalf("got %v, want at least 4 errors", errs)
	}
	for _, e := range errs {
		if strings.Contains(e.Field, "issuer.") || strings.Contains(e.Detail, "issuer.") || !strings.HasPrefix(e.Field, "issuers[1].") {
			t.Errorf("got %q, want a path of tokenfed's issuers[1]", e)
		}
	}
}
