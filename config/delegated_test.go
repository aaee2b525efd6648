package config_test

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/callers"
)

// delegatedSample is the Delegated configuration config/delegated-authz
// goes with.
const delegatedSample = "samples/callers-delegated.yaml"

// rbacRequest is one question the cluster's RBAC authorizer answers: a
// SubjectAccessReview as tokenfed asks it (pkg/callers), or tokenfed's own
// request to create one.
type rbacRequest struct {
	user   string
	groups []string
	// A resource request names group, resource and name; a non-resource
	// request names path.
	verb, group, resource, name, path string
}

// review is tokenfed's question "may user review tokens of issuer".
func review(user string, groups []string, issuer string) rbacRequest {
	return rbacRequest{user: user, groups: groups, verb: callers.VerbReview, group: callers.APIGroup, resource: callers.Resource, name: issuer}
}

func get(user string, groups []string, path string) rbacRequest {
	return rbacRequest{user: user, groups: groups, verb: "get", path: path}
}

const (
	memberCert = "member-a"                                          // a client certificate's CN, no O
	appToken   = "local:system:serviceaccount:apps:app"              // a caller token's federated name
	promToken  = "local:system:serviceaccount:monitoring:prometheus" // ditto
)

var (
	appGroups = []string{"local:system:serviceaccounts", "local:system:serviceaccounts:apps"}
	saGroups  = []string{"system:serviceaccounts", "system:serviceaccounts:apps", "system:authenticated"}
)

// delegatedCases: what the example RBAC grants, as a cluster would decide.
var delegatedCases = []struct {
	name    string
	req     rbacRequest
	allowed bool
}{
	{"the member reviews hub tokens", review(memberCert, nil, "hub"), true},
	{"the member may not review local tokens", review(memberCert, nil, "local"), false},
	{"the member may not read /metrics", get(memberCert, nil, "/metrics"), false},
	{"the app, by its own token, reviews hub tokens", review(appToken, appGroups, "hub"), true},
	{"the app may not review local tokens", review(appToken, appGroups, "local"), false},
	{"the app's unprefixed name is not who tokenfed asks about", review("system:serviceaccount:apps:app", saGroups, "hub"), false},
	{"Prometheus reads /metrics", get(promToken, nil, "/metrics"), true},
	{"Prometheus may not read /debug/pprof", get(promToken, nil, "/debug/pprof"), false},
	{"Prometheus may not review", review(promToken, nil, "hub"), false},
	{"an authenticated stranger may not review", review("stranger", []string{"system:authenticated"}, "hub"), false},
}

func TestDelegatedAuthzGrants(t *testing.T) {
	rbac := loadRBAC(t, build(t, "delegated-authz"))
	for _, tc := range delegatedCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := rbac.allows(tc.req); got != tc.allowed {
				t.Errorf("got allowed %v, want %v", got, tc.allowed)
			}
		})
	}
}

// TestDelegatedAuthzLetsTokenfedAsk: the service account that config/default
// runs tokenfed as may create SubjectAccessReviews, which the sample's
// delegated.inCluster needs.
func TestDelegatedAuthzLetsTokenfedAsk(t *testing.T) {
	cfg := loadValid(t, delegatedSample)
	if cfg.Callers.Authorization.Mode != v1alpha1.CallerAuthorizationDelegated || !cfg.Callers.Authorization.Delegated.InCluster {
		t.Fatalf("%s: got mode %s, want Delegated inCluster", delegatedSample, cfg.Callers.Authorization.Mode)
	}
	d := object[appsv1.Deployment](t, build(t, "default"), "Deployment", "tokenfed")
	sa := "system:serviceaccount:" + d.Namespace + ":" + d.Spec.Template.Spec.ServiceAccountName
	req := rbacRequest{user: sa, groups: []string{"system:serviceaccounts", "system:authenticated"},
		verb: "create", group: "authorization.k8s.io", resource: "subjectaccessreviews"}
	if !loadRBAC(t, build(t, "delegated-authz")).allows(req) {
		t.Errorf("got %s may not create subjectaccessreviews, want allowed", sa)
	}
}

// TestDelegatedAuthzMatchesSample: the example roles grant issuers the
// sample configures, and the example caller tokens are named with the
// prefix of an issuer whose tokens are caller credentials.
func TestDelegatedAuthzMatchesSample(t *testing.T) {
	cfg := loadValid(t, delegatedSample)
	rbac := loadRBAC(t, build(t, "delegated-authz"))
	var issuers []string
	for _, is := range cfg.Issuers {
		issuers = append(issuers, is.Name)
	}
	for name, rules := range rbac.roles {
		for _, r := range rules {
			if !slices.Contains(r.APIGroups, callers.APIGroup) {
				continue
			}
			for _, is := range r.ResourceNames {
				if !slices.Contains(issuers, is) {
					t.Errorf("ClusterRole %s: got issuer %q, want one of %s's %v", name, is, delegatedSample, issuers)
				}
			}
		}
	}
	for _, b := range rbac.bindings {
		for _, s := range b.Subjects {
			if s.Kind == rbacv1.UserKind {
				checkCallerName(t, cfg, "ClusterRoleBinding "+b.Name, s.Name)
			}
		}
	}
}

// TestStaticSampleCallerNames: the same for the users of the static sample's
// policies.
func TestStaticSampleCallerNames(t *testing.T) {
	const sample = "samples/callers-static.yaml"
	cfg := loadValid(t, sample)
	if cfg.Callers.Tokens == nil || len(cfg.Callers.Authorization.Static) == 0 {
		t.Fatalf("%s: got no caller tokens or no static policies, want both", sample)
	}
	for _, p := range cfg.Callers.Authorization.Static {
		for _, u := range p.Users {
			checkCallerName(t, cfg, sample+" policy "+p.Name, u)
		}
	}
}

// checkCallerName: a service account's name as a caller is its federated
// name, with the prefix of one of callers.tokens.issuers; the bare
// system:serviceaccount:... name is never a caller tokenfed authenticates.
func checkCallerName(t *testing.T, cfg *v1alpha1.Configuration, where, name string) {
	t.Helper()
	i := strings.Index(name, "system:serviceaccount:")
	if i < 0 {
		return
	}
	var prefixes []string
	for _, is := range cfg.Issuers {
		if cfg.Callers.Tokens != nil && slices.Contains(cfg.Callers.Tokens.Issuers, is.Name) && is.Mapping.Prefix != nil {
			prefixes = append(prefixes, *is.Mapping.Prefix)
		}
	}
	if !slices.Contains(prefixes, name[:i]) {
		t.Errorf("%s: got caller %q, want a service account named with one of the prefixes %q", where, name, prefixes)
	}
}

func loadValid(t *testing.T, path string) *v1alpha1.Configuration {
	t.Helper()
	cfg, err := v1alpha1.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if errs := v1alpha1.Validate(cfg); len(errs) > 0 {
		t.Fatalf("%s: got errors, want none:\n%v", path, errs.ToAggregate())
	}
	return cfg
}

// clusterRBAC is the ClusterRoles and ClusterRoleBindings of a build, which
// is all a request without a namespace can be granted by.
type clusterRBAC struct {
	roles    map[string][]rbacv1.PolicyRule
	bindings []*rbacv1.ClusterRoleBinding
}

func loadRBAC(t *testing.T, ms []manifest) *clusterRBAC {
	t.Helper()
	r := &clusterRBAC{roles: map[string][]rbacv1.PolicyRule{}}
	for _, m := range ms {
		switch m.kind {
		case "ClusterRole":
			r.roles[m.name] = object[rbacv1.ClusterRole](t, ms, m.kind, m.name).Rules
		case "ClusterRoleBinding":
			r.bindings = append(r.bindings, object[rbacv1.ClusterRoleBinding](t, ms, m.kind, m.name))
		}
	}
	return r
}

// allows decides as kube-apiserver's RBAC authorizer does
// (k8s.io/kubernetes plugin/pkg/auth/authorizer/rbac: appliesTo and
// RuleAllows), for the rules these manifests use.
func (r *clusterRBAC) allows(req rbacRequest) bool {
	for _, b := range r.bindings {
		if b.RoleRef.Kind != "ClusterRole" || !slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool { return appliesTo(s, req) }) {
			continue
		}
		if slices.ContainsFunc(r.roles[b.RoleRef.Name], func(rule rbacv1.PolicyRule) bool { return ruleAllows(rule, req) }) {
			return true
		}
	}
	return false
}

func appliesTo(s rbacv1.Subject, req rbacRequest) bool {
	switch s.Kind {
	case rbacv1.UserKind:
		return s.Name == req.user
	case rbacv1.GroupKind:
		return slices.Contains(req.groups, s.Name)
	case rbacv1.ServiceAccountKind:
		return "system:serviceaccount:"+s.Namespace+":"+s.Name == req.user
	}
	return false
}

func ruleAllows(rule rbacv1.PolicyRule, req rbacRequest) bool {
	if !matches(rule.Verbs, req.verb) {
		return false
	}
	if req.path != "" {
		return slices.ContainsFunc(rule.NonResourceURLs, func(u string) bool {
			return u == "*" || u == req.path || (strings.HasSuffix(u, "*") && strings.HasPrefix(req.path, strings.TrimSuffix(u, "*")))
		})
	}
	return matches(rule.APIGroups, req.group) && matches(rule.Resources, req.resource) &&
		(len(rule.ResourceNames) == 0 || slices.Contains(rule.ResourceNames, req.name))
}

func matches(set []string, v string) bool {
	return slices.Contains(set, "*") || slices.Contains(set, v)
}
