package controlplane

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
)

// logLevelDebug is the klog verbosity of start/stop details.
const logLevelDebug = 1

// ControlPlane is a running etcd + kube-apiserver on loopback. Its fields
// are set by Start and updated by Restart; treat them as read-only.
type ControlPlane struct {
	Name string
	Dir  string
	// URL is the apiserver, https://127.0.0.1:<port>.
	URL string
	// IssuerURL is --service-account-issuer, by default URL.
	IssuerURL string
	// CAFile is the PEM CA that signed the apiserver's serving certificate
	// and the admin client certificate.
	CAFile string
	// Kubeconfig is a self-contained admin (system:masters) kubeconfig.
	Kubeconfig string
	// SigningKeyFile signs service-account tokens, and
	// ServiceAccountPublicKeyFile is its public key.
	SigningKeyFile              string
	ServiceAccountPublicKeyFile string
	// RESTConfig and Client are the admin's.
	RESTConfig *rest.Config
	Client     kubernetes.Interface

	mu        sync.Mutex
	opts      Options
	bins      Binaries
	pki       pkiFiles
	ownDir    bool
	port      int
	etcdURL   string
	args      []string
	etcd      *process
	apiserver *process
	stopped   bool
}

// Start runs a control plane, building the binaries first if needed. ctx
// bounds start-up only: the processes run until Stop. On error nothing is
// left running, and the directory is kept for its logs.
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("start control plane %q: %w", opts.Name, err)
	}
	bins, err := opts.binaries(ctx)
	if err != nil {
		return nil, err
	}
	dir, owned, err := opts.makeDir()
	if err != nil {
		return nil, err
	}
	c := &ControlPlane{Name: opts.Name, Dir: dir, opts: opts.clone(), bins: bins, ownDir: owned}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	if err := c.start(ctx); err != nil {
		c.abort()
		return nil, fmt.Errorf("start control plane %q (logs kept in %s): %w", opts.Name, dir, err)
	}
	klog.FromContext(ctx).V(logLevelDebug).Info("Control plane ready", "name", c.Name, "url", c.URL, "dir", c.Dir, "elapsed", time.Since(start).Round(time.Millisecond))
	return c, nil
}

func (c *ControlPlane) start(ctx context.Context) error {
	var err error
	if c.pki, err = writePKI(filepath.Join(c.Dir, "pki"), c.Name); err != nil {
		return err
	}
	c.CAFile = c.pki.CACert
	c.Kubeconfig = filepath.Join(c.Dir, "admin.kubeconfig")
	if err := c.setServiceAccountKeys(&c.opts); err != nil {
		return err
	}
	klog.FromContext(ctx).V(logLevelDebug).Info("Starting etcd", "name", c.Name, "binary", c.bins.Etcd)
	if c.etcd, c.etcdURL, err = startEtcd(ctx, c.bins.Etcd, c.Dir, c.Name); err != nil {
		return err
	}
	klog.FromContext(ctx).V(logLevelDebug).Info("Starting kube-apiserver", "name", c.Name, "binary", c.bins.KubeAPIServer)
	return c.startAPIServer(ctx)
}

// setServiceAccountKeys generates a signing key unless o names one, and
// writes its public key. The resolved path goes back into o, so that a
// Restart mutation sees, and can keep or replace, the key in use.
func (c *ControlPlane) setServiceAccountKeys(o *Options) error {
	pkiDir := filepath.Join(c.Dir, "pki")
	if o.SigningKeyFile == "" {
		key, err := NewSigningKeyFile(pkiDir)
		if err != nil {
			return err
		}
		o.SigningKeyFile = key
	}
	pub, err := writePublicKey(o.SigningKeyFile, pkiDir)
	if err != nil {
		return err
	}
	c.SigningKeyFile, c.ServiceAccountPublicKeyFile = o.SigningKeyFile, pub
	return nil
}

// abort stops whatever started but keeps the logs and certificates for
// debugging; only etcd's data, which preallocates tens of MB, goes.
func (c *ControlPlane) abort() {
	c.opts.KeepDir = true
	c.Stop()
	_ = os.RemoveAll(filepath.Join(c.Dir, "etcd-data"))
}

// Args returns the kube-apiserver flags in use.
func (c *ControlPlane) Args() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.args)
}

// Restart restarts kube-apiserver only, with the options changed by mutate,
// on the same port and etcd, so objects survive. Key-rotation tests use it:
//
//	old := cp.ServiceAccountPublicKeyFile
//	err := cp.Restart(ctx, func(o *Options) {
//		o.SigningKeyFile = newKey
//		o.ServiceAccountKeyFiles = append(o.ServiceAccountKeyFiles, old)
//	})
//
// An empty SigningKeyFile means a new generated key. Name, Dir, KeepDir,
// RepoRoot and Binaries cannot change.
func (c *ControlPlane) Restart(ctx context.Context, mutate func(*Options)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return fmt.Errorf("restart control plane %q: already stopped", c.Name)
	}
	start := time.Now()
	if err := c.restart(ctx, mutate); err != nil {
		return fmt.Errorf("restart kube-apiserver of control plane %q (dir %s): %w", c.Name, c.Dir, err)
	}
	klog.FromContext(ctx).V(logLevelDebug).Info("Control plane restarted", "name", c.Name, "url", c.URL, "elapsed", time.Since(start).Round(time.Millisecond))
	return nil
}

func (c *ControlPlane) restart(ctx context.Context, mutate func(*Options)) error {
	o := c.opts.clone()
	if mutate != nil {
		mutate(&o)
	}
	o.Name, o.Dir, o.KeepDir, o.RepoRoot, o.Binaries = c.opts.Name, c.opts.Dir, c.opts.KeepDir, c.opts.RepoRoot, c.opts.Binaries
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return err
	}
	if err := c.setServiceAccountKeys(&o); err != nil {
		return err
	}
	c.apiserver.stop()
	c.opts = o
	c.IssuerURL = c.issuerURL()
	ctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	return c.launchAPIServer(ctx)
}

// Stop kills kube-apiserver and etcd (SIGTERM, then SIGKILL) and removes the
// directory if Start created it and KeepDir is not set. It is safe to call
// more than once.
func (c *ControlPlane) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	c.stopped = true
	for _, p := range []*process{c.apiserver, c.etcd} {
		if p != nil {
			p.stop()
		}
	}
	if !c.ownDir || c.opts.KeepDir {
		return
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		klog.ErrorS(err, "Could not remove control-plane directory", "name", c.Name, "dir", c.Dir)
	}
}

// LogTail returns the last lines of the kube-apiserver log, for test
// failure messages.
func (c *ControlPlane) LogTail() string {
	return fmt.Sprintf("last %d lines of %s:\n%s", logTailLines, filepath.Join(c.Dir, "kube-apiserver.log"),
		indent(tailFile(filepath.Join(c.Dir, "kube-apiserver.log"), logTailLines)))
}
