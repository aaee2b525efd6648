package controlplane

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// defaultStartTimeout covers etcd and kube-apiserver start-up on a busy
// 2-core machine; the build, if any, is not counted.
const defaultStartTimeout = 2 * time.Minute

// Options configure one control plane. The zero value is a working one.
type Options struct {
	// Name tells control planes apart ("hub", "member") in directory names,
	// kubeconfig contexts, logs and errors. Default "controlplane".
	Name string
	// Dir holds certificates, kubeconfigs, etcd data and the logs etcd.log
	// and kube-apiserver.log. Empty means a new temporary directory, which
	// Stop removes unless KeepDir is set. A given Dir is never removed.
	Dir     string
	KeepDir bool

	// Binaries to run. Empty fields are filled by EnsureBinaries for
	// RepoRoot (default: found by walking up from the working directory),
	// which writes build progress to Progress (default stderr: a first
	// build takes minutes and must not look like a hang).
	Binaries Binaries
	RepoRoot string
	Progress io.Writer

	// IssuerURL is --service-account-issuer. Default: the apiserver's own
	// URL, so that <issuer>/.well-known/openid-configuration is served.
	IssuerURL string
	// APIAudiences is --api-audiences. Default: the issuer, like kubeadm.
	APIAudiences []string
	// SigningKeyFile is --service-account-signing-key-file. Default: a new
	// RSA-2048 key. Its public key is always accepted for verification.
	SigningKeyFile string
	// ServiceAccountKeyFiles are extra --service-account-key-file values,
	// e.g. the previous public key during a signing-key rotation.
	ServiceAccountKeyFiles []string

	// Webhook, if set, makes the apiserver authenticate bearer tokens it
	// cannot verify itself through this TokenReview webhook.
	Webhook *WebhookOptions
	// ExtraArgs are appended to the kube-apiserver flags, so they win.
	ExtraArgs []string

	// StartTimeout bounds start-up and Restart. Default 2m.
	StartTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = "controlplane"
	}
	if o.Progress == nil {
		o.Progress = os.Stderr
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = defaultStartTimeout
	}
	return o
}

// validate catches what would otherwise only show up in the apiserver log.
func (o Options) validate() error {
	if o.Webhook != nil {
		return o.Webhook.validate()
	}
	return nil
}

// clone copies o deeply enough that a Restart mutation cannot change the
// options the running control plane was started with.
func (o Options) clone() Options {
	o.APIAudiences = slices.Clone(o.APIAudiences)
	o.ServiceAccountKeyFiles = slices.Clone(o.ServiceAccountKeyFiles)
	o.ExtraArgs = slices.Clone(o.ExtraArgs)
	if o.Webhook != nil {
		w := *o.Webhook
		o.Webhook = &w
	}
	return o
}

// binaries fills in whichever binary the caller did not give.
func (o Options) binaries(ctx context.Context) (Binaries, error) {
	if o.Binaries.KubeAPIServer != "" && o.Binaries.Etcd != "" {
		return o.Binaries, nil
	}
	root := o.RepoRoot
	if root == "" {
		var err error
		if root, err = RepoRoot(); err != nil {
			return Binaries{}, err
		}
	}
	built, err := EnsureBinaries(ctx, root, o.Progress)
	if err != nil {
		return Binaries{}, err
	}
	if o.Binaries.KubeAPIServer != "" {
		built.KubeAPIServer = o.Binaries.KubeAPIServer
	}
	if o.Binaries.Etcd != "" {
		built.Etcd = o.Binaries.Etcd
	}
	return built, nil
}

// makeDir returns the working directory and whether Stop may remove it.
func (o Options) makeDir() (dir string, owned bool, err error) {
	if o.Dir != "" {
		if err := os.MkdirAll(o.Dir, 0o700); err != nil {
			return "", false, fmt.Errorf("create control-plane directory: %w", err)
		}
		return o.Dir, false, nil
	}
	dir, err = os.MkdirTemp("", "tokenfed-"+o.Name+"-")
	if err != nil {
		return "", false, fmt.Errorf("create control-plane directory: %w", err)
	}
	return dir, true, nil
}

// RepoRoot finds the tokenfed repository root by walking up from the working
// directory to the directory holding hack/controlplane. Tests run in their
// package directory, so this is how they find the pinned tool modules.
func RepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "hack", "controlplane", "kube-apiserver", "go.mod")); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("find repository root: no hack/controlplane/kube-apiserver/go.mod above %s", wd)
		}
	}
}
