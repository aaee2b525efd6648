package v1alpha1

import (
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// LoadFile reads, strictly decodes and defaults a configuration file. It
// does not validate: callers run Validate so that every error is reported.
// When the file decodes with errors, the error is a *DecodeError that
// lists every one of them with its field path.
func LoadFile(path string) (*Configuration, error) {
	data, err := ReadFile(path)
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

// MaxConfigFileBytes bounds a configuration file: four times what a
// ConfigMap can hold, and far more than any configuration needs.
const MaxConfigFileBytes = 4 << 20

// ReadFile reads a configuration file, or any small file a configuration
// names: a regular file (after symlinks) of at most MaxConfigFileBytes. A
// FIFO, a device such as /dev/zero or a huge file is refused rather than
// waited on or read into memory whole.
func ReadFile(path string) ([]byte, error) {
	return ReadFileLimit(path, MaxConfigFileBytes)
}

// ReadFileLimit is ReadFile with a limit of max bytes.
func ReadFileLimit(path string, max int64) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO without a writer returns at once, and the
	// type is then checked on what was opened, not on a path that may
	// have been swapped meanwhile.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	switch m := st.Mode(); {
	case m.IsDir():
		return nil, &os.PathError{Op: "read", Path: path, Err: syscall.EISDIR}
	case !m.IsRegular():
		return nil, &os.PathError{Op: "read", Path: path, Err: fmt.Errorf("is %s, not a regular file", fileType(m))}
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, &os.PathError{Op: "read", Path: path, Err: fmt.Errorf("larger than %d bytes", max)}
	}
	return data, nil
}

func fileType(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return m.Type().String()
}
