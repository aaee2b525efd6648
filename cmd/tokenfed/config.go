package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
)

func newConfigCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Check and explain configuration files"}
	cmd.AddCommand(newConfigValidateCommand(), newConfigDefaultsCommand())
	return cmd
}

func newConfigValidateCommand() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "validate --config FILE",
		Short: "Validate a configuration file and print every error with its field path",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := loadValidConfig(path); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is valid\n", path)
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "path of the configuration file (required)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

func newConfigDefaultsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "defaults",
		Short: "Print a configuration with every default filled in",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := yaml.Marshal(v1alpha1.Defaulted())
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
}

// loadValidConfig loads path and validates it; the error lists every
// problem, one per line, each with its field path.
func loadValidConfig(path string) (*v1alpha1.Configuration, error) {
	cfg, err := v1alpha1.LoadFile(path)
	if err != nil {
		return nil, err
	}
	return cfg, validateConfig(path, cfg)
}

func validateConfig(path string, cfg *v1alpha1.Configuration) error {
	errs := v1alpha1.Validate(cfg)
	if len(errs) == 0 {
		return nil
	}
	msg := fmt.Sprintf("%s has %d error(s):", path, len(errs))
	for _, e := range errs {
		msg += "\n  " + e.Error()
	}
	return fmt.Errorf("%s", msg)
}
