package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/secretscan"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// The ClusterRoles config/upstream-rbac ships, which the tests grant
// tokenfed and nothing else: TokenReviews, the watch, and (with
// revocation.secrets) Secrets. TestRevocationDocRBAC holds
// docs/revocation.md to the same files.
const (
	tokenReviewRole       = "../../config/upstream-rbac/cluster_roles.yaml"
	revocationRole        = "../../config/upstream-rbac/revocation/cluster_role.yaml"
	revocationSecretsRole = "../../config/upstream-rbac/revocation-secrets/cluster_role.yaml"
)

// watcherKubeconfig creates ServiceAccount kube-system/<name> on the hub,
// binds it to the roles config/upstream-rbac ships (and the secrets one
// when secrets), and returns a kubeconfig with a token of it: tokenfed then
// watches and reviews with nothing more than the manifests grant.
func watcherKubeconfig(t *testing.T, hub *controlplane.ControlPlane, name string, secrets bool) string {
	t.Helper()
	if _, err := hub.CreateServiceAccount(ctx(t), "kube-system", name); err != nil {
		t.Fatal(err)
	}
	roles := []string{tokenReviewRole, revocationRole}
	if secrets {
		roles = append(roles, revocationSecretsRole)
	}
	var refs []string
	for _, file := range roles {
		doc, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var role rbacv1.ClusterRole
		if err := yaml.UnmarshalStrict(doc, &role); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if _, err := hub.Client.RbacV1().ClusterRoles().Create(ctx(t), &role, metav1.CreateOptions{}); err != nil && !strings.Contains(err.Error(), "already exists") {
			t.Fatal(err)
		}
		refs = append(refs, role.Name)
	}
	for _, role := range refs {
		b := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-" + strings.ReplaceAll(role, ":", "-")},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "kube-system", Name: name}},
		}
		if _, err := hub.Client.RbacV1().ClusterRoleBindings().Create(ctx(t), b, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	token, err := hub.CreateToken(ctx(t), "kube-system", name, controlplane.TokenOptions{Expiration: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["hub"] = &clientcmdapi.Cluster{Server: hub.URL, CertificateAuthority: hub.CAFile}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["hub"] = &clientcmdapi.Context{Cluster: "hub", AuthInfo: name}
	cfg.CurrentContext = "hub"
	path := filepath.Join(t.TempDir(), name+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// watchIssuer is the hub issuer with an onFailure upstream through
// kubeconfig and revocation watch.
func watchIssuer(hub *controlplane.ControlPlane, kubeconfig string, r v1alpha1.Revocation) v1alpha1.Issuer {
	is := hubWithUpstream(hub, v1alpha1.UpstreamOnFailure, kubeconfig)
	r.Mode = v1alpha1.RevocationWatch
	is.Revocation = &r
	return is
}

// waitRevocationSynced waits until tokenfed's revocation watch of issuer
// decides tokens for every resource.
func waitRevocationSynced(t *testing.T, p *tokenfedproc.Process, issuer string, timeout time.Duration) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx(t), 50*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		lines := metric(t, p, `tokenfed_revocation_synced{issuer="`+issuer+`"`)
		return lines != "" && !strings.Contains(lines, "} 0"), nil
	})
	if err != nil {
		t.Fatalf("revocation watch of %s not synced after %s:\n%s", issuer, timeout, metric(t, p, "tokenfed_revocation_"))
	}
}

// metricSum adds up every series of tokenfed's /metrics that starts with
// prefix, e.g. `tokenfed_upstream_reviews_total{issuer="hub"`.
func metricSum(t *testing.T, p *tokenfedproc.Process, prefix string) float64 {
	t.Helper()
	return sumLines(t, metric(t, p, prefix))
}

var sampleValue = regexp.MustCompile(`(?m) (\S+)$`)

func sumLines(t *testing.T, lines string) float64 {
	t.Helper()
	total := 0.0
	for _, m := range sampleValue.FindAllStringSubmatch(lines, -1) {
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Fatalf("metric value %q: %v", m[1], err)
		}
		total += v
	}
	return total
}

// hubTokenReviews is how many TokenReviews the hub has served
// (apiserver_request_total for tokenreviews, every code).
func hubTokenReviews(t *testing.T, hub *controlplane.ControlPlane) float64 {
	t.Helper()
	body, err := hub.Client.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, "apiserver_request_total{") && strings.Contains(l, `resource="tokenreviews"`) {
			lines = append(lines, l)
		}
	}
	return sumLines(t, strings.Join(lines, "\n"))
}

// createNode creates a Node object; with no kubelet it is only an object,
// which is all a node-bound token needs.
func createNode(t *testing.T, hub *controlplane.ControlPlane, name string) *corev1.Node {
	t.Helper()
	n, err := hub.Client.CoreV1().Nodes().Create(ctx(t), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// createPodOn creates pod ns/name as "default", bound to node: its tokens
// then carry the node's claims too, which kube-apiserver only reports.
func createPodOn(t *testing.T, hub *controlplane.ControlPlane, ns, name, node string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "main", Image: "registry.k8s.io/pause:3.10"}}},
	}
	pod, err := hub.Client.CoreV1().Pods(ns).Create(ctx(t), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pod
}

// nodeBoundToken mints a token of ns/sa bound to node, which
// controlplane.TokenOptions does not offer.
func nodeBoundToken(t *testing.T, hub *controlplane.ControlPlane, ns, sa string, node *corev1.Node) string {
	t.Helper()
	return requestToken(t, hub, ns, sa, &authBoundRef{kind: "Node", name: node.Name, uid: string(node.UID)})
}

// percentile is the nearest-rank p-th percentile of ds (p in (0, 100]).
func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(float64(len(s))*p/100+0.999999) - 1
	return s[max(0, min(rank, len(s)-1))]
}

func fmtDurations(ds []time.Duration) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, d.Round(time.Millisecond).String())
	}
	return fmt.Sprint(parts)
}

// readFile fails the test on error.
func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// authBoundRef is a TokenRequest's boundObjectRef.
type authBoundRef struct{ kind, name, uid string }

// requestToken mints a token of ns/sa, bound to ref when it is not nil,
// and registers it with secretscan.
func requestToken(t *testing.T, hub *controlplane.ControlPlane, ns, sa string, ref *authBoundRef) string {
	t.Helper()
	req := &authv1.TokenRequest{}
	if ref != nil {
		req.Spec.BoundObjectRef = &authv1.BoundObjectReference{Kind: ref.kind, APIVersion: "v1", Name: ref.name, UID: types.UID(ref.uid)}
	}
	resp, err := hub.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx(t), sa, req, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token of %s/%s: %v", ns, sa, err)
	}
	secretscan.Register(resp.Status.Token, "TokenRequest "+ns+"/"+sa)
	return resp.Status.Token
}
