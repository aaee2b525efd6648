package controlplane

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	// readyzTimeout bounds one /readyz probe, so a hung connection to a
	// restarted apiserver cannot use up the whole start-up deadline.
	readyzTimeout = 5 * time.Second
	// clientQPS and clientBurst keep client-go's default rate limit (5 QPS)
	// from slowing tests that create many objects.
	clientQPS   = 50
	clientBurst = 100
)

// apiserverArgs are the kube-apiserver flags for the current state of c.
func (c *ControlPlane) apiserverArgs() []string {
	o := c.opts
	args := []string{
		"--advertise-address=127.0.0.1",
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(c.port),
		"--tls-cert-file=" + c.pki.ServingCert,
		"--tls-private-key-file=" + c.pki.ServingKey,
		"--client-ca-file=" + c.pki.CACert,
		"--etcd-servers=" + c.etcdURL,
		"--service-cluster-ip-range=10.0.0.0/24",
		// The lease reconciler would publish 127.0.0.1 as the endpoint of the
		// kubernetes Service, which validation rejects (loopback), over and
		// over. Nothing here needs that Service to have endpoints.
		"--endpoint-reconciler-type=none",
		"--authorization-mode=RBAC",
		// APF adds bootstrap objects and controllers a test never exercises.
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--service-account-issuer=" + c.IssuerURL,
		"--service-account-signing-key-file=" + o.SigningKeyFile,
		"--service-account-key-file=" + c.ServiceAccountPublicKeyFile,
		"--api-audiences=" + strings.Join(c.apiAudiences(), ","),
	}
	for _, f := range o.ServiceAccountKeyFiles {
		args = append(args, "--service-account-key-file="+f)
	}
	if o.Webhook != nil {
		args = append(args, WebhookFlags(c.webhookKubeconfig(), *o.Webhook)...)
	}
	return append(args, o.ExtraArgs...)
}

func (c *ControlPlane) apiAudiences() []string {
	if len(c.opts.APIAudiences) > 0 {
		return c.opts.APIAudiences
	}
	return []string{c.IssuerURL}
}

// webhookKubeconfig is the file kube-apiserver reads: the given one, or
// the one launchAPIServer writes.
func (c *ControlPlane) webhookKubeconfig() string {
	if c.opts.Webhook != nil && c.opts.Webhook.KubeconfigFile != "" {
		return c.opts.Webhook.KubeconfigFile
	}
	return filepath.Join(c.Dir, "webhook.kubeconfig")
}

// startAPIServer picks a port and starts kube-apiserver, retrying with a new
// port if the picked one was taken before the apiserver bound it.
func (c *ControlPlane) startAPIServer(ctx context.Context) error {
	var err error
	for range maxPortAttempts {
		if c.port, err = freePort(); err != nil {
			return err
		}
		if err = c.setEndpoint(); err != nil {
			return err
		}
		if err = c.launchAPIServer(ctx); !isAddrInUse(err) {
			return err
		}
	}
	return err
}

// setEndpoint derives everything that depends on the port: URLs, the admin
// kubeconfig and the clients.
func (c *ControlPlane) setEndpoint() error {
	c.URL = "https://127.0.0.1:" + strconv.Itoa(c.port)
	c.IssuerURL = c.issuerURL()
	if err := writeAdminKubeconfig(c.Kubeconfig, c.Name, c.URL, c.pki); err != nil {
		return err
	}
	if err := writeClusterKubeconfig(c.clusterKubeconfig(), c.Name, c.URL, c.CAFile); err != nil {
		return err
	}
	return c.makeClients()
}

func (c *ControlPlane) issuerURL() string {
	if c.opts.IssuerURL != "" {
		return c.opts.IssuerURL
	}
	return c.URL
}

func (c *ControlPlane) makeClients() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return fmt.Errorf("load admin kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = clientQPS, clientBurst
	cfg.UserAgent = "tokenfed-controlplane/" + c.Name
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("create admin client: %w", err)
	}
	c.RESTConfig, c.Client = cfg, client
	return nil
}

// launchAPIServer starts kube-apiserver with the current flags on the
// current port and waits for /readyz.
func (c *ControlPlane) launchAPIServer(ctx context.Context) error {
	if c.opts.Webhook != nil && c.opts.Webhook.KubeconfigFile == "" {
		if err := writeWebhookKubeconfig(c.webhookKubeconfig(), *c.opts.Webhook); err != nil {
			return err
		}
	}
	c.args = c.apiserverArgs()
	proc, err := startProcess("kube-apiserver", c.bins.KubeAPIServer, c.args, filepath.Join(c.Dir, "kube-apiserver.log"))
	if err != nil {
		return err
	}
	if err := waitAPIServerReady(ctx, proc, c.Client.Discovery().RESTClient()); err != nil {
		proc.stop()
		return err
	}
	c.apiserver = proc
	return nil
}

// waitAPIServerReady polls /readyz with the admin client until it answers
// ok, the apiserver exits or ctx ends.
func waitAPIServerReady(ctx context.Context, proc *process, client rest.Interface) error {
	var last string
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		if done, _ := proc.exited(); done {
			return false, proc.exitError()
		}
		probeCtx, cancel := context.WithTimeout(ctx, readyzTimeout)
		defer cancel()
		body, err := client.Get().AbsPath("/readyz").DoRaw(probeCtx)
		if err != nil {
			last = fmt.Sprintf("%v: %s", err, body)
			return false, nil
		}
		return true, nil
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("kube-apiserver not ready (last /readyz answer: %s): %w\n%s", lastLines([]byte(last), logTailLines), err, proc.logTail())
	}
	return err
}
