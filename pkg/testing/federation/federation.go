package federation

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// MemberAudience is the member's --api-audiences. Hub tokens meant for the
// member are minted for it: kube-apiserver sends its API audiences in the
// review, so a token minted for the hub's own API is not valid there.
const MemberAudience = "member"

// Options configure a federation.
type Options struct {
	// Dir holds everything; it must exist.
	Dir string
	// WebhookVersion is the member's --authentication-token-webhook-version
	// ("" for kube-apiserver's default, v1beta1).
	WebhookVersion string
	// WebhookCacheTTL is the member's webhook cache TTL (0 disables it).
	WebhookCacheTTL time.Duration
	// Progress receives one line per step; nil discards.
	Progress io.Writer
	// MutateConfig adjusts the tokenfed configuration before start.
	MutateConfig func(cfg *v1alpha1.Configuration, hub *controlplane.ControlPlane)
	// Hub, if set, is used instead of starting a new one.
	Hub *controlplane.ControlPlane
}

// Federation is a running hub, tokenfed and member.
type Federation struct {
	Hub, Member *controlplane.ControlPlane
	Tokenfed    *tokenfedproc.Process
}

// Start brings the federation up; on error everything started is stopped.
func Start(ctx context.Context, opts Options) (f *Federation, err error) {
	f = &Federation{Hub: opts.Hub}
	defer func() {
		if err != nil {
			f.Stop()
		}
	}()
	say := progress(opts.Progress)
	if f.Hub == nil {
		say("starting the hub control plane (etcd + kube-apiserver)")
		if f.Hub, err = startControlPlane(ctx, opts, "hub", controlplane.Options{}); err != nil {
			return f, err
		}
	}
	if err = f.Hub.AllowAnonymousIssuerDiscovery(ctx); err != nil {
		return f, fmt.Errorf("hub issuer discovery: %w", err)
	}
	say("starting tokenfed, trusting the hub's service-account issuer %s", f.Hub.IssuerURL)
	if f.Tokenfed, err = startTokenfed(ctx, opts, f.Hub); err != nil {
		return f, err
	}
	say("starting the member control plane, with tokenfed as its token webhook")
	f.Member, err = startControlPlane(ctx, opts, "member", controlplane.Options{
		APIAudiences: []string{MemberAudience},
		Webhook:      f.webhookOptions(opts),
	})
	return f, err
}

func (f *Federation) webhookOptions(opts Options) *controlplane.WebhookOptions {
	return &controlplane.WebhookOptions{
		URL:    f.Tokenfed.URL + "/authenticate",
		CAFile: f.Tokenfed.Certs.CACert, ClientCertFile: f.Tokenfed.Certs.ClientCert, ClientKeyFile: f.Tokenfed.Certs.ClientKey,
		Version: opts.WebhookVersion, CacheTTL: opts.WebhookCacheTTL,
	}
}

func startControlPlane(ctx context.Context, opts Options, name string, cp controlplane.Options) (*controlplane.ControlPlane, error) {
	cp.Name = name
	cp.Dir = filepath.Join(opts.Dir, name)
	cp.Progress = opts.Progress
	if err := os.MkdirAll(cp.Dir, 0o700); err != nil {
		return nil, err
	}
	return controlplane.Start(ctx, cp)
}

// HubIssuer is the tokenfed issuer entry for a control plane.
func HubIssuer(name string, hub *controlplane.ControlPlane) v1alpha1.Issuer {
	return v1alpha1.Issuer{
		Name: name, Type: v1alpha1.IssuerTypeServiceAccount, URL: hub.IssuerURL,
		Fetch: v1alpha1.Fetch{CAFile: hub.CAFile},
	}
}

func startTokenfed(ctx context.Context, opts Options, hub *controlplane.ControlPlane) (*tokenfedproc.Process, error) {
	cfg := v1alpha1.Configuration{Issuers: []v1alpha1.Issuer{HubIssuer("hub", hub)}}
	if opts.MutateConfig != nil {
		opts.MutateConfig(&cfg, hub)
	}
	dir := filepath.Join(opts.Dir, "tokenfed")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return tokenfedproc.Start(ctx, tokenfedproc.Options{Dir: dir, Config: cfg})
}

// Stop stops everything that runs, in reverse order.
func (f *Federation) Stop() {
	if f.Member != nil {
		f.Member.Stop()
	}
	if f.Tokenfed != nil {
		f.Tokenfed.Stop()
	}
	if f.Hub != nil {
		f.Hub.Stop()
	}
}

func progress(w io.Writer) func(format string, args ...any) {
	return func(format string, args ...any) {
		if w != nil {
			fmt.Fprintf(w, "==> "+format+"\n", args...)
		}
	}
}
