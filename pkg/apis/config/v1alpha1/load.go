package v1alpha1

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// LoadFile reads, strictly decodes and defaults a configuration file. It
// does not validate: callers run Validate so that every error is reported.
func LoadFile(path string) (*Configuration, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	cfg, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Decode strictly decodes YAML or JSON: unknown fields and duplicate fields
// are errors, because a misspelt security setting must not be ignored.
func Decode(data []byte) (*Configuration, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("empty configuration")
	}
	// YAMLToJSONStrict rejects duplicate keys; UnmarshalStrict then names
	// every unknown field with its full path (e.g. server.securePorts).
	jsonData, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, err
	}
	cfg := &Configuration{}
	strictErrs, err := kjson.UnmarshalStrict(jsonData, cfg, kjson.DisallowUnknownFields)
	if err != nil {
		return nil, err
	}
	if len(strictErrs) > 0 {
		return nil, errors.Join(strictErrs...)
	}
	if want := GroupName + "/" + Version; cfg.APIVersion != want || cfg.Kind != Kind {
		return nil, fmt.Errorf("apiVersion/kind is %q/%q, want %q/%q", cfg.APIVersion, cfg.Kind, want, Kind)
	}
	SetDefaults(cfg)
	return cfg, nil
}

// Defaulted returns a configuration with nothing but defaults.
func Defaulted() *Configuration {
	cfg := &Configuration{}
	SetDefaults(cfg)
	return cfg
}
