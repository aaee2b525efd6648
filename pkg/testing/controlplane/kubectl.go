package controlplane

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// defaultKubectl is used when kubectl is not in PATH.
const defaultKubectl = "/usr/bin/kubectl"

// KubectlAs runs kubectl against this apiserver authenticated by token
// alone. kubectl reads a kubeconfig holding only this cluster, and a HOME
// inside Dir, so the user's ~/.kube and $KUBECONFIG never add credentials.
// The token is not part of any error.
func (c *ControlPlane) KubectlAs(ctx context.Context, token string, args ...string) (stdout, stderr string, err error) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		kubectl = defaultKubectl
	}
	home := filepath.Join(c.Dir, "kubectl-home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return "", "", fmt.Errorf("create kubectl home: %w", err)
	}
	flags := []string{
		"--kubeconfig=" + c.clusterKubeconfig(),
		"--server=" + c.URL,
		"--certificate-authority=" + c.CAFile,
		"--cache-dir=" + filepath.Join(home, "cache"),
		"--token=" + token,
	}
	cmd := exec.CommandContext(ctx, kubectl, append(flags, args...)...)
	cmd.Env = append(childEnv(), "HOME="+home)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), errOut.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), errOut.String(), nil
}

func (c *ControlPlane) clusterKubeconfig() string {
	return filepath.Join(c.Dir, "cluster.kubeconfig")
}
