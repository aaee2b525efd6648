package jws

import (
	"encoding/json"
	"errors"
	"slices"
)

var errNoAlg = errors.New("alg is missing")

// readHeader reads the members routing and verification use. Each must
// have its JSON type (a string, crit a list of strings) or be null; other
// members are ignored, and none of them (jwk, x5c, jku, x5u) ever supplies
// a key.
func readHeader(o Object) (Header, error) {
	var h Header
	var err error
	for _, f := range [...]struct {
		name string
		dst  *string
	}{{"alg", &h.Alg}, {"kid", &h.Kid}, {"typ", &h.Typ}, {"jku", &h.JKU}, {"x5u", &h.X5U}} {
		if *f.dst, err = o.stringAlias(f.name); err != nil {
			return Header{}, err
		}
	}
	if raw, ok := o.Get("crit"); ok {
		h.extension = true
		if h.Crit, err = decodeCrit(raw); err != nil {
			return Header{}, err
		}
	}
	if _, ok := o.Get("b64"); ok {
		h.extension = true
	}
	if h.Alg == "" {
		return Header{}, errNoAlg
	}
	return h, nil
}

// CheckHeader applies the header rules every verification needs, before
// any key is looked up: an alg on the allow-list (else ErrAlgorithm), and
// no JWS extension (else ErrCriticalHeader).
func (t *Token) CheckHeader(allowed []string) error {
	if !slices.Contains(allowed, t.Header.Alg) {
		return ErrAlgorithm
	}
	if t.Header.extension {
		return ErrCriticalHeader
	}
	return nil
}

func decodeCrit(raw []byte) ([]string, error) {
	var crit []string
	if json.Unmarshal(raw, &crit) != nil {
		return nil, wrongType("crit")
	}
	return crit, nil
}
