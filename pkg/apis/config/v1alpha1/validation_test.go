package v1alpha1

import (
	"path/filepath"
	"strings"
	"testing"

	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
)

func TestValidateAcceptsMinimalIssuers(t *testing.T) {
	cfg, err := LoadFile(filepath.Join("testdata", "issuer-minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if errs := Validate(cfg); len(errs) != 0 {
		t.Fatalf("got errors %v, want none", errs.ToAggregate())
	}
}

var validationCases = []struct {
	name   string
	mutate func(*Configuration)
	want   string // "" means valid
}{
	{"valid", func(*Configuration) {}, ""},
	{"empty prefix needs opt-in", func(c *Configuration) { empty := ""; c.Issuers[0].Mapping.Prefix = &empty }, "issuers[0].mapping.prefix: Forbidden"},
	{"empty prefix with opt-in", func(c *Configuration) {
		empty := ""
		c.Issuers[0].Mapping.Prefix, c.Issuers[0].Mapping.AllowUnprefixed = &empty, true
	}, ""},
	{"HS256 never allowed", func(c *Configuration) { c.Issuers[0].Algorithms = []string{"HS256"} }, "issuers[0].algorithms[0]: Unsupported value"},
	{"none never allowed", func(c *Configuration) { c.Issuers[0].Algorithms = []string{"none"} }, "issuers[0].algorithms[0]: Unsupported value"},
	{"two key sources", func(c *Configuration) {
		c.Issuers[0].JWKSURL = "https://a/jwks"
		c.Issuers[0].StaticKeys = &StaticKeys{JWKS: "{}"}
	}, "issuers[0]: Forbidden"},
	{"plain http issuer", func(c *Configuration) { c.Issuers[0].URL = "http://a" }, "issuers[0].url: Invalid value"},
	{"OIDC needs audiences", func(c *Configuration) { c.Issuers[1].Audiences = nil }, "issuers[1].audiences: Required"},
	{"claim rules only for OIDC", func(c *Configuration) {
		c.Issuers[0].ClaimValidationRules = []apiserverv1.ClaimValidationRule{{Claim: "x", RequiredValue: "y"}}
	}, "issuers[0].claimValidationRules: Forbidden"},
	{"opaque upstream must exist", func(c *Configuration) { c.OpaqueTokenUpstream = "corp" }, "opaqueTokenUpstream: Invalid value"},
	{"opaque upstream ok", func(c *Configuration) { c.OpaqueTokenUpstream = "hub" }, ""},
	{"cert without key", func(c *Configuration) { c.Issuers[0].Fetch.ClientCertFile = "c" }, "issuers[0].fetch.clientCertFile"},
	{"negative maxConnections", func(c *Configuration) { c.Server.MaxConnections = -1 }, "server.maxConnections: Invalid value: -1: must be positive"},
	{"negative maxRequestsInFlight", func(c *Configuration) { c.Server.MaxRequestsInFlight = -1 }, "server.maxRequestsInFlight: Invalid value: -1: must be positive"},
	{"maxConcurrentStreams beyond 10000", func(c *Configuration) { c.Server.MaxConcurrentStreams = 10001 }, "server.maxConcurrentStreams: Invalid value: 10001: must be between 1 and 10000"},

	// Identity namespaces: what one issuer emits must never be what another can.
	{"same prefix twice", func(c *Configuration) { c.Issuers[1].Mapping.Prefix = ptr("hub:") }, `issuers[1].mapping.prefix: Invalid value: "hub:": equals the prefix of issuers[0] (hub)`},
	{"same prefix, other case", func(c *Configuration) { c.Issuers[1].Mapping.Prefix = ptr("HUB:") }, `issuers[1].mapping.prefix: Invalid value: "HUB:": equals the prefix of issuers[0]`},
	{"nested prefix after", func(c *Configuration) { c.Issuers[1].Mapping.Prefix = ptr("hub:x:") }, `issuers[1].mapping.prefix: Invalid value: "hub:x:": starts with the prefix of issuers[0] (hub)`},
	{"nested prefix before", func(c *Configuration) { c.Issuers[1].Mapping.Prefix = ptr("hu") }, `issuers[1].mapping.prefix: Invalid value: "hu": is the start of the prefix of issuers[0] (hub)`},
	{"system: prefix", func(c *Configuration) { c.Issuers[1].Mapping.Prefix = ptr("system:corp:") }, `issuers[1].mapping.prefix: Invalid value: "system:corp:": must not overlap the reserved "system:" namespace`},
	{"System: prefix", func(c *Configuration) { c.Issuers[1].Mapping.Prefix = ptr("System:") }, `issuers[1].mapping.prefix: Invalid value: "System:": must not overlap`},
	{"prefix that starts system:", func(c *Configuration) { c.Issuers[1].Mapping.Prefix = ptr("sys") }, `issuers[1].mapping.prefix: Invalid value: "sys": must not overlap`},
	{"two unprefixed issuers", func(c *Configuration) {
		for i := range c.Issuers {
			c.Issuers[i].Mapping.Prefix, c.Issuers[i].Mapping.AllowUnprefixed = ptr(""), true
		}
	}, `issuers[1].mapping.prefix: Invalid value: "": equals the prefix of issuers[0] (hub)`},
	{"one unprefixed issuer beside a prefixed one", func(c *Configuration) {
		c.Issuers[1].Mapping.Prefix, c.Issuers[1].Mapping.AllowUnprefixed = ptr(""), true
	}, ""},
	{"distinct prefixes sharing a first letter", func(c *Configuration) { c.Issuers[1].Mapping.Prefix = ptr("hubble:") }, ""},

	// Audiences: tokenfed's own protocol audiences can never be accepted.
	{"loop-guard audience", func(c *Configuration) { c.Issuers[0].Audiences = []string{"tokenfed.io/loop-guard"} }, `issuers[0].audiences[0]: Invalid value: "tokenfed.io/loop-guard": the tokenfed.io/ domain is reserved`},
	{"reserved audience, other case", func(c *Configuration) { c.Issuers[1].Audiences = []string{"x", "TokenFed.io/anything"} }, `issuers[1].audiences[1]: Invalid value`},
	{"review audiences for OIDC", func(c *Configuration) { c.Issuers[1].ReviewAudiences = []string{"https://member.example"} }, ""},
	{"review audiences only for OIDC", func(c *Configuration) { c.Issuers[0].ReviewAudiences = []string{"https://member.example"} }, "issuers[0].reviewAudiences: Forbidden"},
	{"reserved review audience", func(c *Configuration) { c.Issuers[1].ReviewAudiences = []string{"tokenfed.io/loop-guard"} }, `issuers[1].reviewAudiences[0]: Invalid value`},
	{"empty review audience", func(c *Configuration) { c.Issuers[1].ReviewAudiences = []string{" "} }, `issuers[1].reviewAudiences[0]: Invalid value`},

	// keyIDs: a kid has one owner among the issuers whose tokens can carry
	// one iss; every ServiceAccount issuer shares the legacy iss.
	{"empty kid", func(c *Configuration) { c.Issuers[0].KeyIDs = []string{""} }, `issuers[0].keyIDs[0]: Invalid value: "": must not be empty`},
	{"kid twice", func(c *Configuration) { c.Issuers[0].KeyIDs = []string{"k", "k"} }, `issuers[0].keyIDs[1]: Duplicate value: "k"`},
	{"kid of two issuers sharing a URL", withEdge("https://hub.example.com", "k"),
		`issuers[2].keyIDs[0]: Invalid value: "k": issuers[0] (hub) lists it too, and both issue tokens with iss "https://hub.example.com"`},
	{"kid of two ServiceAccount issuers: the legacy iss", withEdge("https://edge.example.com", "k"),
		`issuers[2].keyIDs[0]: Invalid value: "k": issuers[0] (hub) lists it too, and both issue tokens with iss "kubernetes/serviceaccount"`},
	{"distinct kids on a shared URL", withEdge("https://hub.example.com", "e"), ""},
	{"one kid, an OIDC issuer and a ServiceAccount issuer", func(c *Configuration) {
		c.Issuers[0].KeyIDs, c.Issuers[1].KeyIDs = []string{"k"}, []string{"k"}
	}, ""},

	// Callers: never open by accident; policies that mean something.
	{"no caller credential", func(c *Configuration) { c.Server.ClientCAFile = "" }, "callers.allowAnonymous: Required value"},
	{"anonymous by choice", func(c *Configuration) { c.Server.ClientCAFile, c.Callers.AllowAnonymous = "", true }, ""},
	{"anonymous beside a client CA", func(c *Configuration) { c.Callers.AllowAnonymous = true }, "callers.allowAnonymous: Forbidden"},
	{"caller tokens alone", func(c *Configuration) {
		c.Server.ClientCAFile = ""
		c.Callers.Tokens = &CallerTokens{Audiences: []string{"tokenfed"}, Issuers: []string{"hub"}}
	}, ""},
	{"caller tokens need an audience", func(c *Configuration) { c.Callers.Tokens = &CallerTokens{Issuers: []string{"hub"}} }, "callers.tokens.audiences: Required value"},
	{"caller tokens of an unknown issuer", func(c *Configuration) {
		c.Callers.Tokens = &CallerTokens{Audiences: []string{"tokenfed"}, Issuers: []string{"nope"}}
	}, `callers.tokens.issuers[0]: Not found: "nope"`},
	{"a static policy", func(c *Configuration) {
		c.Callers.Authorization.Static = []CallerPolicy{{Name: "member-a", Users: []string{"member-a"}, Issuers: []string{"hub"}, Endpoints: []string{"/metrics"}, RateLimit: &RateLimit{QPS: 10, Burst: 20}}}
	}, ""},
	{"a policy that matches nobody", func(c *Configuration) {
		c.Callers.Authorization.Static = []CallerPolicy{{Name: "p", Issuers: []string{"hub"}}}
	}, "callers.authorization.static[0]: Required value"},
	{"a policy granting an unknown issuer", func(c *Configuration) {
		c.Callers.Authorization.Static = []CallerPolicy{{Name: "p", Users: []string{"u"}, Issuers: []string{"hubb"}}}
	}, `callers.authorization.static[0].issuers[0]: Not found: "hubb"`},
	{"a policy granting an unknown endpoint", func(c *Configuration) {
		c.Callers.Authorization.Static = []CallerPolicy{{Name: "p", Users: []string{"u"}, Endpoints: []string{"/debug"}}}
	}, `callers.authorization.static[0].endpoints[0]: Unsupported value: "/debug"`},
	{"a zero rate", func(c *Configuration) {
		c.Callers.Authorization.Static = []CallerPolicy{{Name: "p", Users: []string{"u"}, RateLimit: &RateLimit{}}}
	}, "callers.authorization.static[0].rateLimit.qps: Invalid value"},
	{"duplicate policy names", func(c *Configuration) {
		c.Callers.Authorization.Static = []CallerPolicy{{Name: "p", Users: []string{"u"}}, {Name: "p", Users: []string{"v"}}}
	}, "callers.authorization.static[1].name: Duplicate value"},
	{"delegated without a cluster", func(c *Configuration) { c.Callers.Authorization.Mode = CallerAuthorizationDelegated }, "callers.authorization.delegated: Required value"},
	{"delegated in cluster", func(c *Configuration) {
		c.Callers.Authorization.Mode = CallerAuthorizationDelegated
		c.Callers.Authorization.Delegated = &DelegatedAuthorization{InCluster: true}
		SetDefaults(c)
	}, ""},
	{"delegated with a static list", func(c *Configuration) {
		c.Callers.Authorization.Mode = CallerAuthorizationDelegated
		c.Callers.Authorization.Delegated = &DelegatedAuthorization{InCluster: true}
		c.Callers.Authorization.Static = []CallerPolicy{{Name: "p", Users: []string{"u"}}}
		SetDefaults(c)
	}, "callers.authorization.static: Forbidden"},
}

// withEdge gives hub the kid "k" and adds a ServiceAccount issuer "edge" at
// url that lists kid.
func withEdge(url, kid string) func(*Configuration) {
	return func(c *Configuration) {
		c.Issuers[0].KeyIDs = []string{"k"}
		c.Issuers = append(c.Issuers, Issuer{Name: "edge", URL: url, KeyIDs: []string{kid}})
		SetDefaults(c)
	}
}

func ptr(s string) *string { return &s }

func TestValidate(t *testing.T) {
	for _, tc := range validationCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := LoadFile(filepath.Join("testdata", "issuer-minimal.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			tc.mutate(cfg)
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

func TestDecodeRejects(t *testing.T) {
	cases := map[string]string{
		"empty":         "",
		"wrong kind":    "apiVersion: tokenfed.io/v1alpha1\nkind: Other\n",
		"wrong version": "apiVersion: tokenfed.io/v2\nkind: Configuration\n",
		"not yaml":      "{[",
	}
	for name, data := range cases {
		if _, err := Decode([]byte(data)); err == nil {
			t.Errorf("%s: got no error, want one", name)
		}
	}
}

// TestValidateOIDCRules: kube-apiserver's own CEL compilation runs in
// Validate, so `config validate` reports a bad expression with its path.
func TestValidateOIDCRules(t *testing.T) {
	cfg, err := LoadFile(filepath.Join("testdata", "issuer-minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Issuers[1].ClaimValidationRules = []apiserverv1.ClaimValidationRule{{Expression: "claims.email_verified ==", Message: "x"}}
	got := Validate(cfg).ToAggregate()
	if got == nil || !strings.Contains(got.Error(), "issuers[1].claimValidationRules[0].expression") {
		t.Fatalf("got %v, want a CEL compile error at issuers[1].claimValidationRules[0].expression", got)
	}
}

// A ServiceAccount issuer's audiences default to its url: with the type
// or the url wrong, only that field is reported, not "audiences required"
// as well, which would send the operator after the wrong field.
func TestValidateReportsTheWrongFieldOnly(t *testing.T) {
	for name, is := range map[string]Issuer{
		"type misspelt": {Name: "a", Type: "serviceaccount", URL: "https://a.example"},
		"url missing":   {Name: "a", Type: IssuerTypeServiceAccount},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := &Configuration{
				Server:  Server{TLSCertFile: "tls.crt", TLSPrivateKeyFile: "tls.key"},
				Callers: Callers{AllowAnonymous: true},
				Issuers: []Issuer{is},
			}
			SetDefaults(cfg)
			errs := Validate(cfg)
			if len(errs) != 1 || strings.Contains(errs[0].Field, "audiences") {
				t.Errorf("got %v, want one error, not about audiences", errs.ToAggregate())
			}
		})
	}
}
