package v1alpha1

import (
	"fmt"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// LoadFile reads, strictly decodes and defaults a configuration file. It
// does not validate: callers run Validate so that every error is reported.
// When the file decodes with errors, the error is a *DecodeError that
// lists every one of them with its field path.
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

// Decode strictly decodes YAML or JSON: unknown fields, duplicate fields,
// values of the wrong type and bad durations are errors, because a
// misspelt security setting must not be ignored. Any of them makes it
// return a *DecodeError listing them all; a file that is not YAML at all
// gives the parser's error, with its line.
func Decode(data []byte) (*Configuration, error) {
	cfg, errs, err := DecodePartial(data)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return nil, &DecodeError{Errors: errs}
	}
	return cfg, nil
}

// DecodeError is every problem found decoding a configuration, each with
// its field path.
type DecodeError struct {
	Errors field.ErrorList
}

func (e *DecodeError) Error() string {
	return FormatErrors(e.Errors)
}

// FormatErrors says how many errors there are, then lists them one per
// line, indented.
func FormatErrors(errs field.ErrorList) string {
	var b strings.Builder
	if len(errs) == 1 {
		b.WriteString("1 error:")
	} else {
		fmt.Fprintf(&b, "%d errors:", len(errs))
	}
	for _, e := range errs {
		// A CEL compiler's message has lines of its own.
		b.WriteString("\n  ")
		b.WriteString(strings.ReplaceAll(e.Error(), "\n", "\n    "))
	}
	return b.String()
}

// DecodePartial decodes as much of data as it can. err is set, and cfg
// nil, when data is not a configuration at all: empty, not YAML (the
// error gives the line), several YAML documents, or not a mapping.
// Otherwise errs lists every decoding problem with its field path (unknown
// and duplicate fields, values of the wrong type, bad durations, a wrong
// apiVersion or kind), and cfg holds every value that did decode, with
// defaults set. A field in errs is left at its default in cfg, so Validate
// can still check the rest; its own findings about such a field (or
// anything under it) are better dropped, see Under.
func DecodePartial(data []byte) (cfg *Configuration, errs field.ErrorList, err error) {
	return decode(data)
}

// Under reports whether the error is about p or anything under it: a
// field of p, or an element of it.
func Under(e *field.Error, p string) bool {
	f := e.Field
	return f == p || strings.HasPrefix(f, p) && (f[len(p)] == '.' || f[len(p)] == '[')
}

// Defaulted returns a configuration with nothing but defaults.
func Defaulted() *Configuration {
	cfg := &Configuration{}
	SetDefaults(cfg)
	return cfg
}
