package config_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn"
	"github.com/tokenfed/tokenfed/pkg/callers"
	"github.com/tokenfed/tokenfed/pkg/configreload"
	"github.com/tokenfed/tokenfed/pkg/server"
	"github.com/tokenfed/tokenfed/pkg/tokenreview"
)

// components are the kustomize components under config/components, each
// applied on top of config/default, with the objects each adds.
var components = []struct {
	name string
	adds []string
}{
	{name: "hpa", adds: []string{"HorizontalPodAutoscaler/tokenfed"}},
	{name: "network-policy", adds: []string{"NetworkPolicy/tokenfed"}},
	{name: "monitoring", adds: []string{"Certificate/tokenfed-metrics", "PrometheusRule/tokenfed", "ServiceMonitor/tokenfed"}},
	{name: "member-callers", adds: []string{"Certificate/caller-member-a"}},
	{name: "client-ca-bundle"},
}

// componentNames are every component's name, for an overlay with all of
// them.
func componentNames() []string {
	var names []string
	for _, c := range components {
		names = append(names, c.name)
	}
	return names
}

// buildWithComponents builds config/default with the named components, as
// an operator's overlay would.
func buildWithComponents(t *testing.T, names ...string) []manifest {
	t.Helper()
	return build(t, WriteOverlay(t, names...))
}

// WriteOverlay writes a kustomization of config/default plus the named
// components into a new temporary directory and returns that directory.
// kustomize takes only relative paths, so they are relative to it.
func WriteOverlay(t *testing.T, names ...string) string {
	t.Helper()
	configDir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rel := func(p string) string {
		r, err := filepath.Rel(dir, filepath.Join(configDir, p))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	var b strings.Builder
	b.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- " + rel("default") + "\ncomponents:\n")
	for _, n := range names {
		b.WriteString("- " + rel(filepath.Join("components", n)) + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestComponentBuilds(t *testing.T) {
	all := slices.Clone(defaultObjects)
	for _, c := range components {
		t.Run(c.name, func(t *testing.T) {
			var kind struct {
				Kind string `json:"kind"`
			}
			data, err := os.ReadFile(filepath.Join("components", c.name, "kustomization.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if err := yaml.Unmarshal(data, &kind); err != nil {
				t.Fatal(err)
			}
			if kind.Kind != "Component" {
				t.Fatalf("got kind %q, want Component", kind.Kind)
			}
			checkBuild(t, buildWithComponents(t, c.name), namespace, append(slices.Clone(defaultObjects), c.adds...))
		})
		all = append(all, c.adds...)
	}
	t.Run("all", func(t *testing.T) {
		checkBuild(t, buildWithComponents(t, componentNames()...), namespace, all)
	})
}

// TestHPA: the autoscaler scales the Deployment on CPU, never below two
// replicas, and the Deployment leaves the count to it.
func TestHPA(t *testing.T) {
	ms := buildWithComponents(t, "hpa")
	d := object[appsv1.Deployment](t, ms, "Deployment", "tokenfed")
	hpa := object[autoscalingv2.HorizontalPodAutoscaler](t, ms, "HorizontalPodAutoscaler", "tokenfed")
	pdb := object[policyv1.PodDisruptionBudget](t, ms, "PodDisruptionBudget", "tokenfed")
	if d.Spec.Replicas != nil {
		t.Errorf("Deployment: got replicas %d, want none: every apply would undo the autoscaler", *d.Spec.Replicas)
	}
	ref := hpa.Spec.ScaleTargetRef
	if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != d.Name {
		t.Errorf("got scaleTargetRef %+v, want apps/v1 Deployment %s", ref, d.Name)
	}
	if min := ptrValue(hpa.Spec.MinReplicas); min < 2 || int(min) <= pdb.Spec.MinAvailable.IntValue() {
		t.Errorf("got minReplicas %d, want at least 2 and above the PodDisruptionBudget's minAvailable %s", min, pdb.Spec.MinAvailable)
	}
	if hpa.Spec.MaxReplicas <= ptrValue(hpa.Spec.MinReplicas) {
		t.Errorf("got maxReplicas %d, want above minReplicas", hpa.Spec.MaxReplicas)
	}
	if len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].Resource == nil || hpa.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU ||
		hpa.Spec.Metrics[0].Resource.Target.Type != autoscalingv2.UtilizationMetricType {
		t.Fatalf("got metrics %+v, want CPU utilization", hpa.Spec.Metrics)
	}
	if _, ok := d.Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; !ok {
		t.Errorf("container: got no CPU request, which CPU utilization is a share of")
	}
}

// TestNetworkPolicy: the pods take connections on their port from anywhere
// (members are outside the cluster) and reach DNS and HTTPS only.
func TestNetworkPolicy(t *testing.T) {
	ms := buildWithComponents(t, "network-policy")
	d := object[appsv1.Deployment](t, ms, "Deployment", "tokenfed")
	np := object[networkingv1.NetworkPolicy](t, ms, "NetworkPolicy", "tokenfed")
	sel := labels.SelectorFromSet(np.Spec.PodSelector.MatchLabels)
	if len(np.Spec.PodSelector.MatchExpressions) > 0 || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("got podSelector %v, want it to select the pods %v", np.Spec.PodSelector, d.Spec.Template.Labels)
	}
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
		t.Errorf("got policyTypes %v, want Ingress and Egress", np.Spec.PolicyTypes)
	}
	port := containerPort(&d.Spec.Template.Spec.Containers[0], "https")
	if len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].From) != 0 || ports(np.Spec.Ingress[0].Ports) != "TCP/"+strconv.Itoa(int(port)) {
		t.Errorf("got ingress %+v, want one rule: TCP %d from anywhere", np.Spec.Ingress, port)
	}
	var egress []string
	for _, r := range np.Spec.Egress {
		egress = append(egress, ports(r.Ports))
	}
	if want := []string{"UDP/53,TCP/53", "TCP/443,TCP/6443"}; !slices.Equal(egress, want) {
		t.Errorf("got egress ports %v, want %v", egress, want)
	}
}

func ports(ps []networkingv1.NetworkPolicyPort) string {
	var s []string
	for _, p := range ps {
		s = append(s, string(ptrValue(p.Protocol))+"/"+p.Port.String())
	}
	return strings.Join(s, ",")
}

// serviceMonitor is the part of a monitoring.coreos.com/v1 ServiceMonitor
// this test reads; test/manifests checks the whole against the CRD.
type serviceMonitor struct {
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Endpoints []struct {
			Port      string `json:"port"`
			Scheme    string `json:"scheme"`
			Path      string `json:"path"`
			TLSConfig struct {
				ServerName string    `json:"serverName"`
				CA         secretRef `json:"ca"`
				Cert       secretRef `json:"cert"`
				KeySecret  keyRef    `json:"keySecret"`
			} `json:"tlsConfig"`
		} `json:"endpoints"`
	} `json:"spec"`
}

type secretRef struct {
	Secret keyRef `json:"secret"`
}

type keyRef struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

type prometheusRule struct {
	Spec struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				For         string            `json:"for"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

// TestMonitoring: the ServiceMonitor scrapes the Service's port over TLS
// with the scraper's certificate, which tokenfed's configuration grants
// /metrics and nothing else.
func TestMonitoring(t *testing.T) {
	ms := buildWithComponents(t, "monitoring")
	svc := object[corev1.Service](t, ms, "Service", "tokenfed")
	serving := object[cmapi.Certificate](t, ms, "Certificate", "tokenfed-serving")
	metricsCert := object[cmapi.Certificate](t, ms, "Certificate", "tokenfed-metrics")
	sm := loose[serviceMonitor](t, ms, "ServiceMonitor", "tokenfed")
	if !labels.SelectorFromSet(sm.Spec.Selector.MatchLabels).Matches(labels.Set(svc.Labels)) || len(sm.Spec.Selector.MatchLabels) == 0 {
		t.Errorf("got selector %v, want it to select Service %s %v", sm.Spec.Selector.MatchLabels, svc.Name, svc.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("got %d endpoints, want 1", len(sm.Spec.Endpoints))
	}
	ep := sm.Spec.Endpoints[0]
	secret := metricsCert.Spec.SecretName
	tls := ep.TLSConfig
	checks := []struct{ what, got, want string }{
		{"port", ep.Port, svc.Spec.Ports[0].Name},
		{"scheme", ep.Scheme, "https"},
		{"path", ep.Path, "/metrics"},
		{"ca", tls.CA.Secret.Name + "/" + tls.CA.Secret.Key, secret + "/ca.crt"},
		{"cert", tls.Cert.Secret.Name + "/" + tls.Cert.Secret.Key, secret + "/tls.crt"},
		{"keySecret", tls.KeySecret.Name + "/" + tls.KeySecret.Key, secret + "/tls.key"},
		{"serverName is a serving DNS name", strconv.FormatBool(slices.Contains(serving.Spec.DNSNames, tls.ServerName)), "true"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("ServiceMonitor %s: got %q, want %q", c.what, c.got, c.want)
		}
	}
	checkCallerCertificate(t, metricsCert, serving.Spec.IssuerRef)
	p := policyOf(t, managerConfig, metricsCert.Spec.CommonName)
	if !slices.Contains(p.Endpoints, "/metrics") || len(p.Issuers) > 0 {
		t.Errorf("%s policy %s: got endpoints %v issuers %v, want /metrics and no issuers for %s",
			managerConfig, p.Name, p.Endpoints, p.Issuers, metricsCert.Spec.CommonName)
	}
}

// TestAlerts: every alert is complete, and every tokenfed metric it uses
// is one tokenfed exports.
func TestAlerts(t *testing.T) {
	ms := buildWithComponents(t, "monitoring")
	rule := loose[prometheusRule](t, ms, "PrometheusRule", "tokenfed")
	known := exportedMetrics(t)
	metricName := regexp.MustCompile(`\btokenfed_[a-z_]+\b`)
	var alerts []string
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if r.Alert == "" || r.Expr == "" || r.For == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("rule %q: got %+v, want alert, expr, for, a severity, a summary and a description", r.Alert, r)
			}
			for _, name := range metricName.FindAllString(r.Expr+" "+r.Annotations["description"], -1) {
				if !known[name] {
					t.Errorf("alert %s: got metric %s, which tokenfed does not export", r.Alert, name)
				}
			}
		}
	}
	for _, want := range []string{"TokenfedIssuerKeysStale", "TokenfedIssuerKeysOld", "TokenfedUpstreamBreakerOpen", "TokenfedUnavailableAnswers", "TokenfedConfigReloadFailed"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("got alerts %v, want %s among them", alerts, want)
		}
	}
}

// exportedMetrics are the names of tokenfed's metrics, from the collectors
// of the packages that define them.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	reg := &describer{names: map[string]bool{}}
	// The chain's, as serve registers them: its own, the key sets', the
	// upstreams', both caches' and the revocation watches', and the
	// server's (connections, requests in flight, overload). Listing the
	// packages here instead missed the revocation metrics.
	authn.NewChainMetrics(reg)
	tokenreview.NewMetrics(reg)
	callers.NewMetrics(reg)
	configreload.New(configreload.Options{Registerer: reg})
	server.NewMetrics(reg)
	if len(reg.names) < 10 {
		t.Fatalf("got metrics %v, want the dozen or so of README.md", reg.names)
	}
	return reg.names
}

// describer is a prometheus.Registerer that only records the names of what
// is registered.
type describer struct{ names map[string]bool }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (d *describer) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 100)
	c.Describe(ch)
	close(ch)
	for desc := range ch {
		if m := fqName.FindStringSubmatch(desc.String()); m != nil {
			d.names[m[1]] = true
		}
	}
	return nil
}

func (d *describer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = d.Register(c)
	}
}

func (d *describer) Unregister(prometheus.Collector) bool { return false }

// TestMemberCallers: each member's certificate is a client certificate of
// tokenfed's CA whose CN a policy grants issuers to review.
func TestMemberCallers(t *testing.T) {
	ms := buildWithComponents(t, "member-callers")
	serving := object[cmapi.Certificate](t, ms, "Certificate", "tokenfed-serving")
	var n int
	for _, m := range ms {
		if m.kind != "Certificate" || !strings.HasPrefix(m.name, "caller-") {
			continue
		}
		n++
		c := object[cmapi.Certificate](t, ms, m.kind, m.name)
		checkCallerCertificate(t, c, serving.Spec.IssuerRef)
		if want := "caller-" + c.Spec.CommonName; c.Name != want || c.Spec.SecretName != want {
			t.Errorf("Certificate %s: got secretName %s, want both named %s after the CN", c.Name, c.Spec.SecretName, want)
		}
		if p := policyOf(t, managerConfig, c.Spec.CommonName); len(p.Issuers) == 0 {
			t.Errorf("%s policy %s: got no issuers for member %s, want some to review", managerConfig, p.Name, c.Spec.CommonName)
		}
	}
	if n == 0 {
		t.Fatal("got no caller Certificates, want member-a's at least")
	}
}

// checkCallerCertificate: a client certificate from the CA that signs
// tokenfed's serving certificate (so server.clientCAFile, its ca.crt,
// trusts it), naming a user and no groups.
func checkCallerCertificate(t *testing.T, c *cmapi.Certificate, ca cmmeta.IssuerReference) {
	t.Helper()
	if c.Spec.IssuerRef != ca {
		t.Errorf("Certificate %s: got issuer %+v, want tokenfed's CA %+v", c.Name, c.Spec.IssuerRef, ca)
	}
	if !slices.Contains(c.Spec.Usages, cmapi.UsageClientAuth) || slices.Contains(c.Spec.Usages, cmapi.UsageServerAuth) {
		t.Errorf("Certificate %s: got usages %v, want client auth and not server auth", c.Name, c.Spec.Usages)
	}
	if c.Spec.CommonName == "" || c.Spec.IsCA {
		t.Errorf("Certificate %s: got CN %q isCA %v, want a CN, not a CA", c.Name, c.Spec.CommonName, c.Spec.IsCA)
	}
	if c.Spec.Subject != nil && len(c.Spec.Subject.Organizations) > 0 {
		t.Errorf("Certificate %s: got organizations %v, want none: each is a group a policy could grant", c.Name, c.Spec.Subject.Organizations)
	}
}

// policyOf is the static policy a certificate caller with CN user and no
// groups gets from the configuration in file: the first that names it.
func policyOf(t *testing.T, file, user string) v1alpha1.CallerPolicy {
	t.Helper()
	cfg := loadValid(t, file)
	if cfg.Callers.Authorization.Mode != "" && cfg.Callers.Authorization.Mode != v1alpha1.CallerAuthorizationStatic {
		t.Fatalf("%s: got callers mode %s, want Static", file, cfg.Callers.Authorization.Mode)
	}
	for _, p := range cfg.Callers.Authorization.Static {
		if slices.Contains(p.Users, user) {
			return p
		}
	}
	t.Fatalf("%s: got no static policy for user %s", file, user)
	return v1alpha1.CallerPolicy{}
}

// TestClientCABundle: with the component, tokenfed's client CAs come from
// the ConfigMap tokenfed-client-ca, mounted as a directory so that updates
// reach the file.
func TestClientCABundle(t *testing.T) {
	ms := buildWithComponents(t, "client-ca-bundle")
	d := object[appsv1.Deployment](t, ms, "Deployment", "tokenfed")
	pod := &d.Spec.Template.Spec
	c := &pod.Containers[0]
	path := flagValue(c.Args, "--client-ca-file")
	if path == "" {
		t.Fatalf("got args %v, want --client-ca-file", c.Args)
	}
	m, key := mountHolding(c, path)
	v := volume(pod, m.Name)
	if v.ConfigMap == nil || v.ConfigMap.Name != "tokenfed-client-ca" || m.SubPath != "" || key != "ca.crt" {
		t.Errorf("--client-ca-file %s: got mount %+v of volume %+v, want key ca.crt of ConfigMap tokenfed-client-ca as a directory", path, m, v)
	}
	if got := flagValue(c.Args, "--config"); got == "" {
		t.Errorf("got args %v, want --config kept", c.Args)
	}
}

// TestExternal: the external overlay exposes the Service through a load
// balancer and adds an external name to the serving certificate, keeping
// the in-cluster ones.
func TestExternal(t *testing.T) {
	def := object[cmapi.Certificate](t, build(t, "default"), "Certificate", "tokenfed-serving")
	ms := build(t, "external")
	svc := object[corev1.Service](t, ms, "Service", "tokenfed")
	serving := object[cmapi.Certificate](t, ms, "Certificate", "tokenfed-serving")
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || servicePort(svc) != "443->https" {
		t.Errorf("Service: got type %q ports %s, want LoadBalancer 443->https", svc.Spec.Type, servicePort(svc))
	}
	extra, ok := strings.CutPrefix(strings.Join(serving.Spec.DNSNames, ","), strings.Join(def.Spec.DNSNames, ",")+",")
	if !ok || extra == "" || strings.Contains(extra, ",") || strings.HasSuffix(extra, ".svc") || strings.Contains(extra, ".svc.") {
		t.Errorf("serving DNS names: got %v, want %v and one external name", serving.Spec.DNSNames, def.Spec.DNSNames)
	}
}

// loose decodes the manifest of kind and name into T, ignoring fields T
// does not have.
func loose[T any](t *testing.T, ms []manifest, kind, name string) *T {
	t.Helper()
	for _, m := range ms {
		if m.kind == kind && m.name == name {
			obj := new(T)
			if err := yaml.Unmarshal(m.data, obj); err != nil {
				t.Fatalf("%s %s: %v", kind, name, err)
			}
			return obj
		}
	}
	t.Fatalf("got no %s %q", kind, name)
	return nil
}

// TestReadmeListsEveryMetric: README.md's list of metrics ("Readiness and
// metrics") names every metric tokenfed exports, and nothing else, so an
// operator building dashboards and alerts from it misses none.
func TestReadmeListsEveryMetric(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)Metrics \\(prefix `tokenfed_`\\):(.*?)Labels never carry").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md: got no paragraph \"Metrics (prefix `tokenfed_`): ... Labels never carry\"")
	}
	listed := map[string]bool{}
	for _, name := range regexp.MustCompile("`([a-z]+_[a-z_]+)(\\{[a-z_,]*\\})?`").FindAllSubmatch(m[1], -1) {
		listed["tokenfed_"+string(name[1])] = true
	}
	exported := exportedMetrics(t)
	for name := range exported {
		if !listed[name] {
			t.Errorf("README.md does not list the metric %s", name)
		}
	}
	for name := range listed {
		if !exported[name] {
			t.Errorf("README.md lists %s, which tokenfed does not export", name)
		}
	}
}
