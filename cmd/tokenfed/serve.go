package main

import (
	"context"
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
}

func newServeCommand() *cobra.Command {
	o := &serveOptions{logging: logsapi.NewLoggingConfiguration()}
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Serve the TokenReview webhook",
		Args:  noArgs,
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
	cfg := &v1alpha1.Configuration{}
	if o.configFile != "" {
		loaded, err := v1alpha1.LoadFile(o.configFile)
		if err != nil {
			return nil, err
		}
		cfg = loaded
	}
	o.override(fs, &cfg.Server)
	v1alpha1.SetDefaults(cfg)
	return cfg, validateConfig(configName(o.configFile), cfg)
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
	a, err := app.New(ctx, cfg, app.Options{Profiling: o.profiling})
	if err != nil {
		return err
	}
	return a.Run(ctx)
}
