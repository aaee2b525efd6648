package keyset

import (
	"crypto"
	"errors"
	"fmt"
	"reflect"
	"strings"

	josejson "github.com/go-jose/go-jose/v4/json"
)

// Reason codes label the dropped-keys metric, so the set is fixed here: a
// document can never add a label value.
const (
	reasonMalformed     = "malformed"
	reasonSymmetric     = "symmetric"
	reasonPrivate       = "private"
	reasonUse           = "use"
	reasonKeyOps        = "key_ops"
	reasonAlgNotAllowed = "alg_not_allowed"
	reasonAlgMismatch   = "alg_mismatch"
	reasonNoAllowedAlg  = "no_allowed_alg"
	reasonWeakKey       = "weak_key"
	reasonInvalidKey    = "invalid_key"
	reasonUnsupported   = "unsupported"
	reasonX5c           = "x5c_mismatch"
	reasonSharedKid     = "shared_kid"
)

// Bounds on what a document can put into an error, a log line or the
// readiness detail.
const (
	maxListedDrops = 5
	maxQuoted      = 40
)

// reason says why one key was dropped. Neither field ever holds key
// material: code is one of the constants above, text names only members,
// algorithms and key types.
type reason struct {
	code string
	text string
	// compromised is the public half of a key published with its private
	// half: no copy of it may verify anything, from this document or from
	// the keys loaded before.
	compromised crypto.PublicKey
}

func dropFor(code, format string, args ...any) *reason {
	return &reason{code: code, text: fmt.Sprintf(format, args...)}
}

// drop is one key left out of a document, and which one: `kid "a"`, or its
// 1-based position when it has no kid.
type drop struct {
	key string
	reason
}

func keyLabel(kid string, pos int) string {
	if kid == "" {
		return fmt.Sprintf("key %d", pos)
	}
	return "kid " + quote(kid)
}

// quote renders a document-supplied string in bounded, escaped form.
func quote(s string) string {
	if r := []rune(s); len(r) > maxQuoted {
		return fmt.Sprintf("%q...", string(r[:maxQuoted]))
	}
	return fmt.Sprintf("%q", s)
}

// summarize lists why keys were dropped, at most maxListedDrops of them:
// `2 keys dropped: kid "a": alg "HS256" not allowed; key 2: ...`.
func summarize(drops []drop) string {
	if len(drops) == 0 {
		return ""
	}
	parts := make([]string, 0, maxListedDrops+1)
	for i, d := range drops {
		if i == maxListedDrops {
			parts = append(parts, fmt.Sprintf("and %d more", len(drops)-i))
			break
		}
		parts = append(parts, d.key+": "+d.text)
	}
	noun := "keys"
	if len(drops) == 1 {
		noun = "key"
	}
	return fmt.Sprintf("%d %s dropped: %s", len(drops), noun, strings.Join(parts, "; "))
}

// errNoUsableKeys marks a document from which no key survived the checks.
var errNoUsableKeys = errors.New("no usable keys")

// noUsableKeysError carries the drops, so that a failed load still reports
// them in Status and metrics.
type noUsableKeysError struct {
	dropped []drop
}

func (e *noUsableKeysError) Error() string {
	if len(e.dropped) == 0 {
		return errNoUsableKeys.Error() + ": the document holds no keys"
	}
	return errNoUsableKeys.Error() + ": " + summarize(e.dropped)
}

func (e *noUsableKeysError) Is(target error) bool { return target == errNoUsableKeys }

// dropCounts counts drops by reason code.
func dropCounts(drops []drop) map[string]int {
	counts := map[string]int{}
	for _, d := range drops {
		counts[d.code]++
	}
	return counts
}

// jsonError replaces a decoder error with a bounded one. Decoder messages
// quote member names and number literals from the document, of any length.
func jsonError(err error) error {
	var (
		syntax *josejson.SyntaxError
		typ    *josejson.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return fmt.Errorf("invalid JSON at offset %d", syntax.Offset)
	case errors.As(err, &typ):
		got, _, _ := strings.Cut(typ.Value, " ")
		return fmt.Errorf("JSON %s where %s was expected", got, jsonKind(typ.Type.Kind()))
	case strings.Contains(err.Error(), "duplicate key"):
		return errors.New("duplicate member")
	}
	return errors.New("invalid JSON")
}

func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	}
	return k.String()
}
