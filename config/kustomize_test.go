package config_test

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
)

const namespace = "tokenfed-system"

// goTypes are the kinds the manifests may contain, each with the Go type it
// must decode into strictly: a misspelt or misplaced field fails here rather
// than being dropped by the API server.
var goTypes = map[string]func() any{
	"Namespace":           func() any { return &corev1.Namespace{} },
	"ServiceAccount":      func() any { return &corev1.ServiceAccount{} },
	"ConfigMap":           func() any { return &corev1.ConfigMap{} },
	"Service":             func() any { return &corev1.Service{} },
	"Deployment":          func() any { return &appsv1.Deployment{} },
	"PodDisruptionBudget": func() any { return &policyv1.PodDisruptionBudget{} },
	"ClusterRole":         func() any { return &rbacv1.ClusterRole{} },
	"ClusterRoleBinding":  func() any { return &rbacv1.ClusterRoleBinding{} },
	"Issuer":              func() any { return &cmapi.Issuer{} },
	"Certificate":         func() any { return &cmapi.Certificate{} },
}

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

func TestKustomizeBuilds(t *testing.T) {
	tests := []struct {
		dir string
		// wantObjects are kind/name; the build must hold exactly these.
		wantObjects []string
	}{
		{dir: "default", wantObjects: []string{
			"Certificate/tokenfed-ca", "Certificate/tokenfed-serving",
			"ClusterRoleBinding/tokenfed:auth-delegator", "ClusterRoleBinding/tokenfed:service-account-issuer-discovery",
			"ConfigMap/tokenfed-config", "Deployment/tokenfed",
			"Issuer/tokenfed-ca-issuer", "Issuer/tokenfed-selfsigned",
			"Namespace/tokenfed-system", "PodDisruptionBudget/tokenfed",
			"Service/tokenfed", "ServiceAccount/tokenfed",
		}},
		{dir: "upstream-rbac", wantObjects: []string{
			"ClusterRoleBinding/tokenfed-upstream:auth-delegator",
			"ClusterRoleBinding/tokenfed-upstream:service-account-issuer-discovery",
			"Namespace/tokenfed-system", "ServiceAccount/tokenfed-upstream",
		}},
		{dir: "delegated-authz", wantObjects: []string{
			"ClusterRole/tokenfed:delegated-authorization", "ClusterRole/tokenfed:metrics-reader", "ClusterRole/tokenfed:review:hub",
			"ClusterRoleBinding/tokenfed:delegated-authorization", "ClusterRoleBinding/tokenfed:metrics-reader", "ClusterRoleBinding/tokenfed:review:hub",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			var got []string
			for _, m := range build(t, tt.dir) {
				got = append(got, m.kind+"/"+withoutHash(m))
				if err := checkManifest(m); err != nil {
					t.Errorf("%s %s: %v", m.kind, m.name, err)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.wantObjects) {
				t.Errorf("got objects %v, want %v", got, tt.wantObjects)
			}
		})
	}
}

// withoutHash drops the content hash kustomize appends to generated
// ConfigMaps.
func withoutHash(m manifest) string {
	if m.kind != "ConfigMap" {
		return m.name
	}
	i := strings.LastIndex(m.name, "-")
	if i < 0 {
		return m.name
	}
	return m.name[:i]
}

// checkManifest decodes m strictly and checks its namespace.
func checkManifest(m manifest) error {
	newObj, ok := goTypes[m.kind]
	if !ok {
		return fmt.Errorf("kind has no Go type in this test; add it to goTypes")
	}
	if err := yaml.UnmarshalStrict(m.data, newObj()); err != nil {
		return err
	}
	namespaced := m.kind != "Namespace" && m.kind != "ClusterRole" && m.kind != "ClusterRoleBinding"
	if namespaced && m.namespace != namespace {
		return fmt.Errorf("got namespace %q, want %q", m.namespace, namespace)
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
	configMount := mountAt(c, configPath)
	configVolume := volume(pod, configMount.Name)
	if configVolume.ConfigMap == nil {
		t.Fatalf("volume %s: got no ConfigMap", configMount.Name)
	}
	cm := object[corev1.ConfigMap](t, ms, "ConfigMap", configVolume.ConfigMap.Name)
	cfg, err := v1alpha1.Decode([]byte(cm.Data[configMount.SubPath]))
	if err != nil {
		t.Fatalf("ConfigMap %s key %q: %v", cm.Name, configMount.SubPath, err)
	}
	if errs := v1alpha1.Validate(cfg); len(errs) > 0 {
		t.Fatalf("ConfigMap %s: got errors %v, want none", cm.Name, errs.ToAggregate())
	}
	svc := object[corev1.Service](t, ms, "Service", "tokenfed")
	serving := object[cmapi.Certificate](t, ms, "Certificate", "tokenfed-serving")
	pdb := object[policyv1.PodDisruptionBudget](t, ms, "PodDisruptionBudget", "tokenfed")
	readiness, liveness := probe(c.ReadinessProbe), probe(c.LivenessProbe)
	checks := []struct {
		what      string
		got, want string
	}{
		{"config path", configPath, "/etc/tokenfed/config.yaml"},
		{"replicas", strconv.Itoa(int(ptrValue(d.Spec.Replicas))), "2"},
		{"serviceAccountName", pod.ServiceAccountName, object[corev1.ServiceAccount](t, ms, "ServiceAccount", pod.ServiceAccountName).Name},
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

// TestRoleBindings checks what each build grants, and to whom.
func TestRoleBindings(t *testing.T) {
	tests := []struct {
		dir            string
		serviceAccount string
	}{
		{dir: "default", serviceAccount: "tokenfed"},
		{dir: "upstream-rbac", serviceAccount: "tokenfed-upstream"},
	}
	// system:auth-delegator: create TokenReviews (upstream policy).
	// system:service-account-issuer-discovery: read discovery and JWKS.
	want := []string{"system:auth-delegator", "system:service-account-issuer-discovery"}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			ms := build(t, tt.dir)
			object[corev1.ServiceAccount](t, ms, "ServiceAccount", tt.serviceAccount)
			var got []string
			for _, m := range ms {
				if m.kind != "ClusterRoleBinding" {
					continue
				}
				b := object[rbacv1.ClusterRoleBinding](t, ms, m.kind, m.name)
				wantSubjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: tt.serviceAccount, Namespace: namespace}}
				if !slices.Equal(b.Subjects, wantSubjects) {
					t.Errorf("ClusterRoleBinding %s: got subjects %v, want %v", b.Name, b.Subjects, wantSubjects)
				}
				got = append(got, b.RoleRef.Kind+"/"+b.RoleRef.Name)
			}
			slices.Sort(got)
			var wantRefs []string
			for _, r := range want {
				wantRefs = append(wantRefs, "ClusterRole/"+r)
			}
			if !slices.Equal(got, wantRefs) {
				t.Errorf("got roles %v, want %v", got, wantRefs)
			}
		})
	}
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

func mountAt(c *corev1.Container, path string) corev1.VolumeMount {
	for _, m := range c.VolumeMounts {
		if m.MountPath == path {
			return m
		}
	}
	return corev1.VolumeMount{}
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
