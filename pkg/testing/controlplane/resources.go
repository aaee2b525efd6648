package controlplane

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// podImage is never pulled (there is no kubelet) but must be valid.
const podImage = "registry.k8s.io/pause:3.10"

// CreateNamespace creates namespace name and its "default" ServiceAccount.
// No controller manager runs here, so nothing else would create that
// account, and the ServiceAccount admission plugin rejects pods without it.
func (c *ControlPlane) CreateNamespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	ns, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", name, err)
	}
	if err := c.ensureServiceAccount(ctx, name, "default"); err != nil {
		return nil, err
	}
	return ns, nil
}

// CreateServiceAccount creates ServiceAccount ns/name.
func (c *ControlPlane) CreateServiceAccount(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	sa, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create service account %s/%s: %w", ns, name, err)
	}
	return sa, nil
}

func (c *ControlPlane) ensureServiceAccount(ctx context.Context, ns, name string) error {
	_, err := c.CreateServiceAccount(ctx, ns, name)
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// CreatePod creates pod ns/name running as service account sa ("" means
// "default"). Without a kubelet the pod never runs; the object is enough to
// bind tokens to it.
func (c *ControlPlane) CreatePod(ctx context.Context, ns, name, sa string) (*corev1.Pod, error) {
	if sa == "" || sa == "default" {
		// Namespaces not made by CreateNamespace lack it.
		sa = "default"
		if err := c.ensureServiceAccount(ctx, ns, sa); err != nil {
			return nil, err
		}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{
			ServiceAccountName: sa,
			Containers:         []corev1.Container{{Name: "main", Image: podImage}},
		},
	}
	pod, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create pod %s/%s: %w", ns, name, err)
	}
	return pod, nil
}
