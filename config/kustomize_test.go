package config_test

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
)

const namespace = "tokenfed-system"

// goTypes are the kinds the manifests may contain, each with the Go type it
// must decode into strictly: a misspelt or misplaced field fails here rather
// than being dropped by the API server. A nil entry is a kind whose Go types
// are not a dependency of this module (the Prometheus Operator's); the
// server-side dry run in test/manifests checks those against their CRDs.
var goTypes = map[string]func() any{
	"Namespace":               func() any { return &corev1.Namespace{} },
	"ServiceAccount":          func() any { return &corev1.ServiceAccount{} },
	"ConfigMap":               func() any { return &corev1.ConfigMap{} },
	"Service":                 func() any { return &corev1.Service{} },
	"Deployment":              func() any { return &appsv1.Deployment{} },
	"PodDisruptionBudget":     func() any { return &policyv1.PodDisruptionBudget{} },
	"PriorityClass":           func() any { return &schedulingv1.PriorityClass{} },
	"HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"NetworkPolicy":           func() any { return &networkingv1.NetworkPolicy{} },
	"ClusterRole":             func() any { return &rbacv1.ClusterRole{} },
	"ClusterRoleBinding":      func() any { return &rbacv1.ClusterRoleBinding{} },
	"Issuer":                  func() any { return &cmapi.Issuer{} },
	"Certificate":             func() any { return &cmapi.Certificate{} },
	"ServiceMonitor":          nil,
	"PrometheusRule":          nil,
}

// clusterScoped are the kinds without a namespace.
var clusterScoped = []string{"Namespace", "PriorityClass", "ClusterRole", "ClusterRoleBinding"}

// manifest is one object of a kustomize build.
type manifest struct {
	kind, name, namespace string
	data                  []byte
}

// build runs kubectl's built-in kustomize on dir; these manifests need no
// network.
func build(t *testing.T, dir string) []manifest {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl is needed to build config/%s with kustomize: %v", dir, err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(kubectl, "kustomize", dir)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
	}
	docs, err := splitDocuments(out)
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v", dir, err)
	}
	manifests := make([]manifest, 0, len(docs))
	for _, doc := range docs {
		var meta struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("kubectl kustomize %s: %v", dir, err)
		}
		manifests = append(manifests, manifest{kind: meta.Kind, name: meta.Metadata.Name, namespace: meta.Metadata.Namespace, data: doc})
	}
	return manifests
}

// object strictly decodes the manifest of kind and name into T.
func object[T any](t *testing.T, manifests []manifest, kind, name string) *T {
	t.Helper()
	for _, m := range manifests {
		if m.kind == kind && m.name == name {
			obj := new(T)
			if err := yaml.UnmarshalStrict(m.data, obj); err != nil {
				t.Fatalf("%s %s: %v", kind, name, err)
			}
			return obj
		}
	}
	t.Fatalf("got no %s %q", kind, name)
	return nil
}

// defaultObjects are the objects of config/default, as kind/name.
var defaultObjects = []string{
	"Certificate/tokenfed-ca", "Certificate/tokenfed-serving",
	"ClusterRole/tokenfed:create-tokenreviews",
	"ClusterRoleBinding/tokenfed:create-tokenreviews", "ClusterRoleBinding/tokenfed:service-account-issuer-discovery",
	"ConfigMap/tokenfed-config", "Deployment/tokenfed",
	"Issuer/tokenfed-ca-issuer", "Issuer/tokenfed-selfsigned",
	"Namespace/tokenfed-system", "PodDisruptionBudget/tokenfed",
	"PriorityClass/tokenfed-critical",
	"Service/tokenfed", "ServiceAccount/tokenfed",
}

// builds are every kustomization under config/ that is applied as is, and
// what each holds. Components are in components_test.go.
var builds = []struct {
	dir string
	// namespace is where its namespaced objects belong.
	namespace string
	// wantObjects are kind/name; the build must hold exactly these.
	wantObjects []string
}{
	{dir: "default", namespace: namespace, wantObjects: defaultObjects},
	{dir: "external", namespace: namespace, wantObjects: defaultObjects},
	{dir: "upstream-rbac", namespace: upstreamNamespace, wantObjects: []string{
		"ClusterRole/tokenfed-upstream:create-tokenreviews",
		"ClusterRoleBinding/tokenfed-upstream:create-tokenreviews",
		"ClusterRoleBinding/tokenfed-upstream:service-account-issuer-discovery",
		"Namespace/tokenfed-upstream", "ServiceAccount/tokenfed-upstream",
	}},
	{dir: "delegated-authz", wantObjects: []string{
		"ClusterRole/tokenfed:delegated-authorization", "ClusterRole/tokenfed:metrics-reader", "ClusterRole/tokenfed:review:hub",
		"ClusterRoleBinding/tokenfed:delegated-authorization", "ClusterRoleBinding/tokenfed:metrics-reader", "ClusterRoleBinding/tokenfed:review:hub",
	}},
}

// upstreamNamespace is config/upstream-rbac's own, never tokenfed's.
const upstreamNamespace = "tokenfed-upstream"

func TestKustomizeBuilds(t *testing.T) {
	for _, tt := range builds {
		t.Run(tt.dir, func(t *testing.T) {
			checkBuild(t, build(t, tt.dir), tt.namespace, tt.wantObjects)
		})
	}
}

// TestEveryKustomizationIsTested: a kustomization added under config/ must
// be listed in builds or components, or nothing would check it.
func TestEveryKustomizationIsTested(t *testing.T) {
	files, err := filepath.Glob("*/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	more, err := filepath.Glob("components/*/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Bases that only the builds above include.
	tested := []string{"manager", "certmanager", "rbac"}
	for _, b := range builds {
		tested = append(tested, b.dir)
	}
	for _, c := range components {
		tested = append(tested, "components/"+c.name)
	}
	for _, f := range append(files, more...) {
		if dir := filepath.Dir(f); !slices.Contains(tested, dir) {
			t.Errorf("config/%s is tested nowhere: add it to builds (kustomize_test.go) or components (components_test.go)", dir)
		}
	}
}

// checkBuild checks that a build holds exactly wantObjects, each decoding
// strictly, in namespace ns.
func checkBuild(t *testing.T, ms []manifest, ns string, wantObjects []string) {
	t.Helper()
	var got []string
	for _, m := range ms {
		got = append(got, m.kind+"/"+m.name)
		if err := checkManifest(m, ns); err != nil {
			t.Errorf("%s %s: %v", m.kind, m.name, err)
		}
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(wantObjects))
	if !slices.Equal(got, want) {
		t.Errorf("got objects %v, want %v", got, want)
	}
}

// checkManifest decodes m strictly and checks its namespace.
func checkManifest(m manifest, ns string) error {
	newObj, ok := goTypes[m.kind]
	if !ok {
		return fmt.Errorf("kind has no Go type in this test; add it to goTypes")
	}
	if newObj != nil {
		if err := yaml.UnmarshalStrict(m.data, newObj()); err != nil {
			return err
		}
	}
	namespaced := !slices.Contains(clusterScoped, m.kind)
	if namespaced && m.namespace != ns {
		return fmt.Errorf("got namespace %q, want %q", m.namespace, ns)
	}
	if !namespaced && m.namespace != "" {
		return fmt.Errorf("got namespace %q, want none", m.namespace)
	}
	return nil
}

// TestDefaultWiring checks that the objects of config/default refer to each
// other correctly: the files tokenfed's configuration names are the ones
// the Deployment mounts, from the Secret cert-manager writes, for the
// Service's DNS names.
func TestDefaultWiring(t *testing.T) {
	ms := build(t, "default")
	d := object[appsv1.Deployment](t, ms, "Deployment", "tokenfed")
	pod := &d.Spec.Template.Spec
	c := &pod.Containers[0]
	configPath := flagValue(c.Args, "--config")
	cm, cfg := mountedConfig(t, ms, pod, c, configPath)
	svc := object[corev1.Service](t, ms, "Service", "tokenfed")
	serving := object[cmapi.Certificate](t, ms, "Certificate", "tokenfed-serving")
	pdb := object[policyv1.PodDisruptionBudget](t, ms, "PodDisruptionBudget", "tokenfed")
	readiness, liveness := probe(c.ReadinessProbe), probe(c.LivenessProbe)
	checks := []struct {
		what      string
		got, want string
	}{
		{"config path", configPath, "/etc/tokenfed/config/config.yaml"},
		// No hash suffix: editing the file updates this ConfigMap in place,
		// and tokenfed reloads the mounted file.
		{"ConfigMap name", cm.Name, "tokenfed-config"},
		{"replicas", strconv.Itoa(int(ptrValue(d.Spec.Replicas))), "2"},
		{"serviceAccountName", pod.ServiceAccountName, object[corev1.ServiceAccount](t, ms, "ServiceAccount", pod.ServiceAccountName).Name},
		{"priorityClassName", pod.PriorityClassName, object[schedulingv1.PriorityClass](t, ms, "PriorityClass", pod.PriorityClassName).Name},
		// cert-manager writes tls.crt, tls.key and the issuing CA as ca.crt.
		{"tlsCertFile", secretFile(pod, c, cfg.Server.TLSCertFile), serving.Spec.SecretName + "/tls.crt"},
		{"tlsPrivateKeyFile", secretFile(pod, c, cfg.Server.TLSPrivateKeyFile), serving.Spec.SecretName + "/tls.key"},
		{"clientCAFile", secretFile(pod, c, cfg.Server.ClientCAFile), serving.Spec.SecretName + "/ca.crt"},
		{"container port https", strconv.Itoa(int(containerPort(c, "https"))), strconv.Itoa(int(cfg.Server.SecurePort))},
		{"service port", servicePort(svc), "443->https"},
		{"service selects the pods", strconv.FormatBool(labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels))), "true"},
		{"pdb selects the pods", strconv.FormatBool(selects(pdb, d.Spec.Template.Labels)), "true"},
		{"readiness probe", readiness, "HTTPS https /readyz"},
		{"liveness probe", liveness, "HTTPS https /livez"},
		{"serving DNS names", strings.Join(serving.Spec.DNSNames, ","), svc.Name + "." + svc.Namespace + ".svc," + svc.Name + "." + svc.Namespace + ".svc.cluster.local"},
		{"security", security(pod, c), "nonRoot readOnlyRoot noEscalation drop:ALL RuntimeDefault"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s: got %q, want %q", ck.what, ck.got, ck.want)
		}
	}
}

// TestDefaultDrains: a deleted pod keeps serving while it leaves the
// Service's endpoints (a preStop sleep: the image has no shell), and the
// grace period covers that sleep plus tokenfed's own shutdownGracePeriod.
func TestDefaultDrains(t *testing.T) {
	ms := build(t, "default")
	d := object[appsv1.Deployment](t, ms, "Deployment", "tokenfed")
	pod := &d.Spec.Template.Spec
	c := &pod.Containers[0]
	_, cfg := mountedConfig(t, ms, pod, c, flagValue(c.Args, "--config"))
	v1alpha1.SetDefaults(cfg)
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Fatalf("got preStop %+v, want a sleep action", c.Lifecycle)
	}
	if c.Lifecycle.PreStop.Exec != nil {
		t.Errorf("got a preStop exec, want none: the distroless image has no shell or sleep binary")
	}
	sleep := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	if sleep < 5*time.Second {
		t.Errorf("got preStop sleep %s, want at least 5s for kube-proxy and load balancers to drop the pod", sleep)
	}
	grace := time.Duration(ptrValue(pod.TerminationGracePeriodSeconds)) * time.Second
	if need := sleep + cfg.Server.ShutdownGracePeriod.Duration; grace <= need {
		t.Errorf("got terminationGracePeriodSeconds %s, want more than preStop sleep %s + shutdownGracePeriod %s",
			grace, sleep, cfg.Server.ShutdownGracePeriod.Duration)
	}
}

// mountedConfig returns the ConfigMap that provides path in the container,
// and the Configuration in it, which must validate. The ConfigMap must be
// mounted as a directory: the kubelet never updates a subPath mount, and
// tokenfed reloads its configuration when the file changes.
func mountedConfig(t *testing.T, ms []manifest, pod *corev1.PodSpec, c *corev1.Container, path string) (*corev1.ConfigMap, *v1alpha1.Configuration) {
	t.Helper()
	m, key := mountHolding(c, path)
	if m.Name == "" {
		t.Fatalf("no volume mount holds %s", path)
	}
	if m.SubPath != "" {
		t.Fatalf("volume mount %s: got subPath %q, want the ConfigMap mounted as a directory (a subPath file is never updated)", m.Name, m.SubPath)
	}
	v := volume(pod, m.Name)
	if v.ConfigMap == nil {
		t.Fatalf("volume %s: got no ConfigMap", m.Name)
	}
	if ptrValue(v.ConfigMap.Optional) {
		t.Errorf("volume %s: got optional, want required: tokenfed cannot start without its configuration", m.Name)
	}
	cm := object[corev1.ConfigMap](t, ms, "ConfigMap", v.ConfigMap.Name)
	data, ok := cm.Data[key]
	if !ok {
		t.Fatalf("ConfigMap %s: got no key %q", cm.Name, key)
	}
	cfg, err := v1alpha1.Decode([]byte(data))
	if err != nil {
		t.Fatalf("ConfigMap %s key %q: %v", cm.Name, key, err)
	}
	if errs := v1alpha1.Validate(cfg); len(errs) > 0 {
		t.Fatalf("ConfigMap %s: got errors %v, want none", cm.Name, errs.ToAggregate())
	}
	return cm, cfg
}

// TestCertificateChain checks cert-manager's bootstrap: self-signed Issuer
// -> CA Certificate -> CA Issuer -> serving Certificate.
func TestCertificateChain(t *testing.T) {
	ms := build(t, "default")
	serving := object[cmapi.Certificate](t, ms, "Certificate", "tokenfed-serving")
	caIssuer := object[cmapi.Issuer](t, ms, "Issuer", serving.Spec.IssuerRef.Name)
	if caIssuer.Spec.CA == nil {
		t.Fatalf("Issuer %s: got no ca, want a CA issuer", caIssuer.Name)
	}
	ca := certificateForSecret(t, ms, caIssuer.Spec.CA.SecretName)
	if !ca.Spec.IsCA {
		t.Errorf("Certificate %s: got isCA false, want true", ca.Name)
	}
	// Renewing the CA must keep its key: a new key is a new CA, which
	// neither the members (for the serving certificate) nor tokenfed (for
	// the callers' certificates) would trust yet.
	if ca.Spec.PrivateKey == nil || ca.Spec.PrivateKey.RotationPolicy != cmapi.RotationPolicyNever {
		t.Errorf("Certificate %s: got privateKey %+v, want rotationPolicy Never (cert-manager's default is Always)", ca.Name, ca.Spec.PrivateKey)
	}
	root := object[cmapi.Issuer](t, ms, "Issuer", ca.Spec.IssuerRef.Name)
	if root.Spec.SelfSigned == nil {
		t.Errorf("Issuer %s: got no selfSigned, want the self-signed bootstrap", root.Name)
	}
}

func certificateForSecret(t *testing.T, ms []manifest, secret string) *cmapi.Certificate {
	t.Helper()
	for _, m := range ms {
		if m.kind != "Certificate" {
			continue
		}
		if c := object[cmapi.Certificate](t, ms, m.kind, m.name); c.Spec.SecretName == secret {
			return c
		}
	}
	t.Fatalf("got no Certificate writing Secret %q", secret)
	return nil
}

// TestRoleBindings checks what each build grants, and to whom: TokenReviews
// and issuer discovery, nothing more. Not system:auth-delegator, which also
// grants SubjectAccessReviews.
func TestRoleBindings(t *testing.T) {
	tests := []struct {
		dir, namespace, serviceAccount string
		// wantRoles are the roles bound; tokenreviews is the build's own.
		wantRoles   []string
		tokenreview string
	}{
		{dir: "default", namespace: namespace, serviceAccount: "tokenfed",
			tokenreview: "tokenfed:create-tokenreviews"},
		{dir: "upstream-rbac", namespace: upstreamNamespace, serviceAccount: "tokenfed-upstream",
			tokenreview: "tokenfed-upstream:create-tokenreviews"},
	}
	wantRules := []rbacv1.PolicyRule{{Verbs: []string{"create"}, APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}}}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			ms := build(t, tt.dir)
			object[corev1.ServiceAccount](t, ms, "ServiceAccount", tt.serviceAccount)
			rbac := loadRBAC(t, ms)
			if rules := rbac.roles[tt.tokenreview]; !reflect.DeepEqual(rules, wantRules) {
				t.Errorf("ClusterRole %s: got rules %+v, want %+v", tt.tokenreview, rules, wantRules)
			}
			var got []string
			for _, b := range rbac.bindings {
				wantSubjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: tt.serviceAccount, Namespace: tt.namespace}}
				if !slices.Equal(b.Subjects, wantSubjects) {
					t.Errorf("ClusterRoleBinding %s: got subjects %v, want %v", b.Name, b.Subjects, wantSubjects)
				}
				got = append(got, b.RoleRef.Kind+"/"+b.RoleRef.Name)
			}
			slices.Sort(got)
			want := []string{"ClusterRole/system:service-account-issuer-discovery", "ClusterRole/" + tt.tokenreview}
			if !slices.Equal(got, want) {
				t.Errorf("got roles %v, want %v", got, want)
			}
			// What the service account may do, as RBAC decides with the
			// built-in discovery role's rules.
			rbac.roles["system:service-account-issuer-discovery"] = issuerDiscoveryRules
			sa := rbacRequest{user: "system:serviceaccount:" + tt.namespace + ":" + tt.serviceAccount,
				groups: []string{"system:serviceaccounts", "system:authenticated"}}
			for _, c := range []struct {
				req     rbacRequest
				allowed bool
			}{
				{withVerb(sa, "create", "authentication.k8s.io", "tokenreviews", ""), true},
				{withPath(sa, "get", "/openid/v1/jwks"), true},
				{withVerb(sa, "create", "authorization.k8s.io", "subjectaccessreviews", ""), false},
				{withVerb(sa, "get", "", "secrets", ""), false},
			} {
				if got := rbac.allows(c.req); got != c.allowed {
					t.Errorf("%s %s %s%s: got allowed %v, want %v", sa.user, c.req.verb, c.req.resource, c.req.path, got, c.allowed)
				}
			}
		})
	}
}

// issuerDiscoveryRules are the built-in ClusterRole
// system:service-account-issuer-discovery's.
var issuerDiscoveryRules = []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/.well-known/openid-configuration", "/.well-known/openid-configuration/", "/openid/v1/jwks", "/openid/v1/jwks/"}}}

func withVerb(r rbacRequest, verb, group, resource, name string) rbacRequest {
	r.verb, r.group, r.resource, r.name = verb, group, resource, name
	return r
}

func withPath(r rbacRequest, verb, path string) rbacRequest {
	r.verb, r.path = verb, path
	return r
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

// mountHolding returns the volume mount path lies under, and path relative
// to it.
func mountHolding(c *corev1.Container, path string) (corev1.VolumeMount, string) {
	for _, m := range c.VolumeMounts {
		if m.MountPath == path {
			return m, ""
		}
		if rel, err := filepath.Rel(m.MountPath, path); err == nil && !strings.HasPrefix(rel, "..") {
			return m, rel
		}
	}
	return corev1.VolumeMount{}, ""
}

func volume(pod *corev1.PodSpec, name string) corev1.Volume {
	for _, v := range pod.Volumes {
		if v.Name == name {
			return v
		}
	}
	return corev1.Volume{}
}

// secretFile names the Secret and key that provide path in the container,
// as "<secret>/<key>", or says why none does.
func secretFile(pod *corev1.PodSpec, c *corev1.Container, path string) string {
	for _, m := range c.VolumeMounts {
		rel, err := filepath.Rel(m.MountPath, path)
		if err != nil || strings.HasPrefix(rel, "..") || m.SubPath != "" {
			continue
		}
		v := volume(pod, m.Name)
		if v.Secret == nil {
			return "volume " + m.Name + " is not a Secret"
		}
		return v.Secret.SecretName + "/" + rel
	}
	return "no mount holds " + path
}

func containerPort(c *corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

func servicePort(svc *corev1.Service) string {
	var ports []string
	for _, p := range svc.Spec.Ports {
		ports = append(ports, fmt.Sprintf("%d->%s", p.Port, p.TargetPort.String()))
	}
	return strings.Join(ports, ",")
}

func selects(pdb *policyv1.PodDisruptionBudget, podLabels map[string]string) bool {
	if pdb.Spec.Selector == nil {
		return false
	}
	return labels.SelectorFromSet(pdb.Spec.Selector.MatchLabels).Matches(labels.Set(podLabels))
}

func probe(p *corev1.Probe) string {
	if p == nil || p.HTTPGet == nil {
		return "no HTTP probe"
	}
	return string(p.HTTPGet.Scheme) + " " + p.HTTPGet.Port.String() + " " + p.HTTPGet.Path
}

// security summarises the settings the restricted Pod Security level needs,
// plus a read-only root file system.
func security(pod *corev1.PodSpec, c *corev1.Container) string {
	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || sc == nil || sc.Capabilities == nil {
		return "pod or container securityContext missing"
	}
	var s []string
	if ptrValue(psc.RunAsNonRoot) {
		s = append(s, "nonRoot")
	}
	if ptrValue(sc.ReadOnlyRootFilesystem) {
		s = append(s, "readOnlyRoot")
	}
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		s = append(s, "noEscalation")
	}
	for _, d := range sc.Capabilities.Drop {
		s = append(s, "drop:"+string(d))
	}
	if psc.SeccompProfile != nil {
		s = append(s, string(psc.SeccompProfile.Type))
	}
	return strings.Join(s, " ")
}

func ptrValue[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
