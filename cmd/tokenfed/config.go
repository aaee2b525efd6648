package main

import (
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
)

// Exit codes of tokenfed config validate and tokenfed config defaults.
const (
	exitConfigValid   = 0
	exitConfigInvalid = 1
	// exitConfigUsage: the question could not be asked (bad flags or
	// arguments, a file that cannot be read), as for tokenfed review.
	exitConfigUsage = 2
)

func newConfigCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check and explain configuration files",
		// A mistyped command (`config valdate`) must not pass for a valid
		// file: it is refused, without repeating what was typed.
		Args: func(cmd *cobra.Command, args []string) error {
			return usageError(rootArgs(cmd, args))
		},
		RunE:                       func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		SuggestionsMinimumDistance: 2,
	}
	// Inherited by both commands.
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		// Flags of tokenfed config itself: likely those of a mistyped
		// command (config valdate --config FILE).
		if args := c.Flags().Args(); c.HasSubCommands() && len(args) > 0 {
			return usageError(rootArgs(c, args))
		}
		return usageError(flagError(c, err))
	})
	cmd.AddCommand(newConfigValidateCommand(), newConfigDefaultsCommand())
	return cmd
}

// usageError gives err the exit code of a usage error; nil stays nil.
func usageError(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: exitConfigUsage, err: err}
}

func configNoArgs(cmd *cobra.Command, args []string) error {
	return usageError(noArgsConfigFlag(cmd, args))
}

func newConfigValidateCommand() *cobra.Command {
	var path string
	var checkFiles bool
	cmd := &cobra.Command{
		Use:   "validate --config FILE [--check-files]",
		Short: "Validate a configuration file and print every error with its field path",
		Long: `Validate a configuration file and print every error with its field path:
YAML syntax (with the line), unknown and duplicate fields, values of the
wrong type, bad durations, and every rule of the configuration, those of
kube-apiserver's JWT authenticator (CEL included) for OIDC issuers.

The files the configuration names are not opened: a configuration is often
checked on another machine than the one it runs on. With --check-files,
they are: the serving certificate and its key (a matching pair, within its
validity), CA bundles (PEM certificates), bearer token files (readable, not
empty), client certificates, static key files (keys tokenfed can use) and
kubeconfigs (as tokenfed loads them). Relative paths are relative to the
current directory, as for tokenfed serve.

Exit status: 0 valid, 1 invalid (every error on standard error), 2 the
question could not be asked (bad flags or arguments, the file cannot be
read).`,
		Example: `  tokenfed config validate --config /etc/tokenfed/config.yaml
  tokenfed config validate --config /etc/tokenfed/config.yaml --check-files`,
		Args: configNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return usageError(errors.New("--config is required"))
			}
			c, err := checkConfig(path)
			if err != nil {
				return err
			}
			errs := c.errs
			if checkFiles {
				errs = append(errs, notUnder(checkConfigFiles(c.cfg), errs)...)
			}
			if len(errs) > 0 {
				return invalidConfig(path, errs)
			}
			msg := path + " is valid"
			if checkFiles {
				msg += ", and the files it names are usable"
			}
			fmt.Fprintln(cmd.OutOrStdout(), msg)
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "path of the configuration file (required)")
	cmd.Flags().BoolVar(&checkFiles, "check-files", false, "also check that every file the configuration names exists and is usable")
	return cmd
}

func newConfigDefaultsCommand() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "defaults [--config FILE]",
		Short: "Print every default: in an example configuration, or filled into FILE",
		Long: `Print every default.

Without --config: an example configuration with every default filled in,
issuers included: one issuer of each type, marked as examples, as are the
few values that have no default. It passes tokenfed config validate as it
is.

With --config: FILE with every default filled in, as tokenfed serve would
run it. A file that does not decode (syntax, unknown fields, values of the
wrong type) is not printed: what would be printed is not the file. A file
that decodes is printed even when it is invalid, and its errors go to
standard error.

Exit status: 0 printed and valid, 1 invalid (every error on standard
error), 2 the question could not be asked (bad flags or arguments, the
file cannot be read).`,
		Args: configNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("config") {
				out, err := exampleYAML()
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(out)
				return err
			}
			if path == "" {
				return usageError(errors.New("--config needs a file"))
			}
			c, err := checkConfig(path)
			if err != nil {
				return err
			}
			if len(c.decodeErrs) == 0 {
				out, err := configYAML(c.cfg, path+" with every default filled in (tokenfed config defaults)", nil, "")
				if err != nil {
					return err
				}
				if _, err := cmd.OutOrStdout().Write(out); err != nil {
					return err
				}
			}
			if len(c.errs) > 0 {
				return invalidConfig(path, c.errs)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "print this configuration file with its defaults filled in, instead of an example")
	return cmd
}

// checkedConfig is what a configuration file holds, and what is wrong
// with it.
type checkedConfig struct {
	// cfg is the configuration, defaulted; fields in decodeErrs hold
	// their defaults.
	cfg        *v1alpha1.Configuration
	decodeErrs field.ErrorList
	// errs are every error: decodeErrs, then those of validation about
	// other fields.
	errs field.ErrorList
}

// checkConfig reads, decodes and validates path. Its error carries the
// exit code: a file that cannot be read is a usage error, one that is no
// configuration at all (not YAML, empty) an invalid one.
func checkConfig(path string) (*checkedConfig, error) {
	data, err := v1alpha1.ReadFile(path)
	if err != nil {
		// Not the path: what is not a file may be anything pasted.
		return nil, usageError(fmt.Errorf("--config: cannot read it: %w", withoutPath(err)))
	}
	cfg, decodeErrs, err := v1alpha1.DecodePartial(data)
	if err != nil {
		return nil, &exitError{code: exitConfigInvalid, err: fmt.Errorf("%s: %w", path, err)}
	}
	// A field that did not decode holds its default, so what Validate
	// says about it is beside the point.
	errs := append(slices.Clone(decodeErrs), notUnder(v1alpha1.Validate(cfg), decodeErrs)...)
	return &checkedConfig{cfg: cfg, decodeErrs: decodeErrs, errs: errs}, nil
}

// notUnder returns the errors of errs that are not about a field of
// known, or anything under one.
func notUnder(errs, known field.ErrorList) field.ErrorList {
	var out field.ErrorList
	for _, e := range errs {
		if !slices.ContainsFunc(known, func(k *field.Error) bool { return v1alpha1.Under(e, k.Field) }) {
			out = append(out, e)
		}
	}
	return out
}

func invalidConfig(path string, errs field.ErrorList) error {
	return &exitError{code: exitConfigInvalid, err: fmt.Errorf("%s has %s", path, v1alpha1.FormatErrors(errs))}
}

// validateConfig validates cfg, read from path (or named so); the error
// lists every problem, one per line, each with its field path.
func validateConfig(path string, cfg *v1alpha1.Configuration) error {
	if errs := v1alpha1.Validate(cfg); len(errs) > 0 {
		return fmt.Errorf("%s has %s", path, v1alpha1.FormatErrors(errs))
	}
	return nil
}
