package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	logsapi "k8s.io/component-base/logs/api/v1"
	_ "k8s.io/component-base/logs/json/register" // --logging-format=json
	"k8s.io/klog/v2"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/app"
)

// serveOptions are the serve flags. Flags the user set override the file.
type serveOptions struct {
	configFile string
	server     v1alpha1.Server
	logging    *logsapi.LoggingConfiguration
	profiling  bool

	// initial and load are the file's content at start and how a content
	// becomes a configuration, for hot reload; unset without --config.
	initial []byte
	load    func([]byte) (*v1alpha1.Configuration, error)
}

func newServeCommand() *cobra.Command {
	o := &serveOptions{logging: logsapi.NewLoggingConfiguration()}
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Serve the TokenReview webhook",
		Long: `Serve the TokenReview webhook, configured by --config FILE (a
tokenfed.io/v1alpha1 Configuration; docs/configuration.md) and the flags
below, which override the file.

FILE is re-read every 2 seconds, and at once on SIGHUP. A new content is
validated as at start and applied without a restart; one that does not
validate is refused, logged with every error, and the last good
configuration keeps serving (/readyz?verbose shows "config", the metric
tokenfed_config_last_reload_successful is 0). Listener settings (address,
port, TLS file paths, client CA path, timeouts) apply at the next restart.
Check a file before with: tokenfed config validate --config FILE.`,
		Args: noArgsConfigFlag,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := o.complete(cmd.Flags())
			if err != nil {
				return err
			}
			return o.run(cmd.Context(), cfg)
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func (o *serveOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.configFile, "config", "", "path of the configuration file (kind: Configuration); without it, defaults and flags are used")
	fs.StringVar(&o.server.BindAddress, "bind-address", "", "IP address to listen on (overrides server.bindAddress)")
	fs.Int32Var(&o.server.SecurePort, "secure-port", 0, "HTTPS port (overrides server.securePort)")
	fs.StringVar(&o.server.TLSCertFile, "tls-cert-file", "", "PEM serving certificate, reloaded on change (overrides server.tlsCertFile)")
	fs.StringVar(&o.server.TLSPrivateKeyFile, "tls-private-key-file", "", "PEM serving key (overrides server.tlsPrivateKeyFile)")
	fs.StringVar(&o.server.ClientCAFile, "client-ca-file", "", "PEM CA bundle that callers' client certificates must chain to, reloaded on change (overrides server.clientCAFile)")
	fs.BoolVar(&o.profiling, "profiling", false, "serve /debug/pprof/ to callers granted /debug/pprof (callers.authorization)")
	logsapi.AddFlags(o.logging, fs)
}

// complete loads the file, applies the flags the user set, and validates.
func (o *serveOptions) complete(fs *pflag.FlagSet) (*v1alpha1.Configuration, error) {
	if err := logsapi.ValidateAndApply(o.logging, nil); err != nil {
		return nil, err
	}
	// Whatever the logging configuration says: client-go logs upstream
	// reviews, tokens included, from the context's logger at -v=8, and
	// the upstream client silences it there. With contextual logging off,
	// klog would use the global logger instead (and the upstream client
	// would refuse to start).
	klog.EnableContextualLogging(true)
	if o.configFile == "" {
		cfg := &v1alpha1.Configuration{}
		o.override(fs, &cfg.Server)
		v1alpha1.SetDefaults(cfg)
		return cfg, validateConfig(configName(o.configFile), cfg)
	}
	data, err := v1alpha1.ReadFile(o.configFile)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	o.initial = data
	o.load = func(data []byte) (*v1alpha1.Configuration, error) { return o.decode(fs, data) }
	return o.load(data)
}

// decode is what the file's content means with the flags the user set:
// at start, and at every hot reload.
func (o *serveOptions) decode(fs *pflag.FlagSet, data []byte) (*v1alpha1.Configuration, error) {
	cfg, err := v1alpha1.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", o.configFile, err)
	}
	o.override(fs, &cfg.Server)
	v1alpha1.SetDefaults(cfg)
	return cfg, validateConfig(o.configFile, cfg)
}

func (o *serveOptions) override(fs *pflag.FlagSet, s *v1alpha1.Server) {
	if fs.Changed("bind-address") {
		s.BindAddress = o.server.BindAddress
	}
	if fs.Changed("secure-port") {
		s.SecurePort = o.server.SecurePort
	}
	if fs.Changed("tls-cert-file") {
		s.TLSCertFile = o.server.TLSCertFile
	}
	if fs.Changed("tls-private-key-file") {
		s.TLSPrivateKeyFile = o.server.TLSPrivateKeyFile
	}
	if fs.Changed("client-ca-file") {
		s.ClientCAFile = o.server.ClientCAFile
	}
}

func configName(path string) string {
	if path == "" {
		return "configuration"
	}
	return path
}

func (o *serveOptions) run(ctx context.Context, cfg *v1alpha1.Configuration) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx = klog.NewContext(ctx, klog.Background().WithName("tokenfed"))
	opts := app.Options{Profiling: o.profiling}
	// SIGHUP must never end the process, whose default action it is.
	now := hangups(ctx)
	if o.load != nil {
		opts.Reload = &app.ReloadOptions{Path: o.configFile, Initial: o.initial, Load: o.load, Now: now}
	} else {
		go ignoreHangups(ctx, now)
	}
	a, err := app.New(ctx, cfg, opts)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// ignoreHangups logs each SIGHUP: without --config there is no file to
// re-read.
func ignoreHangups(ctx context.Context, now <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-now:
			klog.FromContext(ctx).Info("SIGHUP ignored: serve runs without --config, so there is no file to reload")
		}
	}
}

// hangups delivers SIGHUP, which reloads the configuration file at once,
// until ctx is done.
func hangups(ctx context.Context) <-chan struct{} {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP)
	now := make(chan struct{}, 1)
	go func() {
		defer signal.Stop(sig)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig:
				select {
				case now <- struct{}{}:
				default: // a read is already due
				}
			}
		}
	}()
	return now
}
