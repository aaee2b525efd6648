package keyset

import (
	"crypto"
	"encoding/json"
	"errors"
	"reflect"
	"slices"

	jose "github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"
)

// privateMembers are the JWK members that hold private or secret key
// material (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2; "priv" for AKP).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"}

// certMembers tie a JWK to a certificate (RFC 7517 §4.6-4.9).
var certMembers = []string{"x5c", "x5t", "x5t#S256"}

// policy decides which keys of a document are kept: those an issuer's
// tokens can be verified with under its algorithm allow-list.
type policy struct {
	algs []string
}

func (p policy) allows(alg string) bool { return slices.Contains(p.algs, alg) }

// jwkMembers are the members judged before go-jose parses a key: go-jose
// does not read key_ops, and a private half it parses cannot be told from a
// public key once jwk.Public() has been taken.
type jwkMembers struct {
	Kty    string    `json:"kty"`
	Kid    string    `json:"kid"`
	Alg    *string   `json:"alg"`
	Use    *string   `json:"use"`
	KeyOps *[]string `json:"key_ops"`
}

// checkJWK returns the key raw describes, or why it is dropped, and the kid
// to name it by. The rules run from the gravest down, so a key that breaks
// several is reported for the worst.
func (p policy) checkJWK(raw []byte) (Key, string, *reason) {
	var m jwkMembers
	members, err := decodeJWK(raw, &m)
	if err != nil {
		return Key{}, "", dropFor(reasonMalformed, "malformed JWK: %s", jsonError(err))
	}
	if r := p.checkMembers(m, members); r != nil {
		if r.code == reasonPrivate {
			r.compromised = publicHalf(members)
		}
		return Key{}, m.Kid, r
	}
	pub, r := parsePublicJWK(raw, m.Kty, members)
	if r != nil {
		return Key{}, m.Kid, r
	}
	alg, r := p.checkPublic(pub, m.Alg)
	if r != nil {
		return Key{}, m.Kid, r
	}
	return Key{KeyID: m.Kid, Algorithm: alg, Public: pub}, m.Kid, nil
}

// decodeJWK decodes with go-jose's JSON, which matches member names
// case-sensitively and refuses duplicates: a key must mean the same to us as
// to every other JOSE library.
func decodeJWK(raw []byte, m *jwkMembers) (map[string]josejson.RawMessage, error) {
	var members map[string]josejson.RawMessage
	if err := josejson.Unmarshal(raw, &members); err != nil {
		return nil, err
	}
	if members == nil {
		return nil, &josejson.UnmarshalTypeError{Value: "null", Type: reflect.TypeOf(members)}
	}
	return members, josejson.Unmarshal(raw, m)
}

// checkMembers applies the rules that need no parsed key.
func (p policy) checkMembers(m jwkMembers, members map[string]josejson.RawMessage) *reason {
	if m.Kty == "oct" {
		return dropFor(reasonSymmetric, "symmetric key (kty oct) refused")
	}
	// go-jose would hand us the public half of a private key. But a
	// published private key lets anyone sign: the key is compromised, and
	// no token it verifies can be trusted.
	for _, name := range privateMembers {
		if _, ok := members[name]; ok {
			return dropFor(reasonPrivate, "publishes private key material (%s)", quote(name))
		}
	}
	if m.Use != nil && *m.Use != "sig" {
		return dropFor(reasonUse, "use %s is not sig", quote(*m.Use))
	}
	if m.KeyOps != nil && !slices.Contains(*m.KeyOps, "verify") {
		return dropFor(reasonKeyOps, "key_ops lacks verify")
	}
	if m.Alg != nil && !p.allows(*m.Alg) {
		return dropFor(reasonAlgNotAllowed, "alg %s not allowed", quote(*m.Alg))
	}
	return nil
}

// parsePublicJWK parses the key with go-jose, which checks EC points are on
// their curve, Ed25519 keys are not of low order, RSA exponents are sane, and
// x5c/x5t match the key. Its messages are not passed on (they may change and
// are not ours to bound), so each failure gets a fixed reason.
func parsePublicJWK(raw []byte, kty string, members map[string]josejson.RawMessage) (crypto.PublicKey, *reason) {
	var jwk jose.JSONWebKey
	err := jwk.UnmarshalJSON(raw)
	switch {
	case errors.Is(err, jose.ErrUnsupportedKeyType) && kty == "RSA":
		return nil, dropFor(reasonUnsupported, "RSA key larger than %d bits", jose.MaxRSAModulusBits)
	case errors.Is(err, jose.ErrUnsupportedKeyType):
		return nil, dropFor(reasonUnsupported, "unsupported key type %s", quote(kty))
	case err != nil && certMismatch(members):
		return nil, dropFor(reasonX5c, "x5c or x5t does not match the key")
	case err != nil:
		return nil, dropFor(reasonInvalidKey, "invalid %s key parameters", quote(kty))
	}
	if !isAsymmetricPublic(jwk.Key) {
		return nil, dropFor(reasonUnsupported, "unsupported key type %s", quote(kty))
	}
	return jwk.Key, nil
}

// publicHalf is the public key of a JWK published with private members, or
// nil when even that does not parse. Whatever it verifies is forgeable.
func publicHalf(members map[string]josejson.RawMessage) crypto.PublicKey {
	raw, err := withoutMembers(members, privateMembers)
	if err != nil {
		return nil
	}
	var jwk jose.JSONWebKey
	if jwk.UnmarshalJSON(raw) != nil || !isAsymmetricPublic(jwk.Key) {
		return nil
	}
	return jwk.Key
}

// certMismatch tells an x5c/x5t that contradicts the key from a key that is
// broken by itself: the key parses once the certificate members are gone.
func certMismatch(members map[string]josejson.RawMessage) bool {
	raw, err := withoutMembers(members, certMembers)
	if err != nil {
		return false
	}
	var jwk jose.JSONWebKey
	return jwk.UnmarshalJSON(raw) == nil
}

// withoutMembers re-encodes a JWK without the named members, or fails when
// it had none of them. It uses encoding/json, because go-jose's Go 1.6 fork
// marshals a RawMessage map value as base64.
func withoutMembers(members map[string]josejson.RawMessage, names []string) ([]byte, error) {
	kept := make(map[string]json.RawMessage, len(members))
	for name, v := range members {
		if !slices.Contains(names, name) {
			kept[name] = json.RawMessage(v)
		}
	}
	if len(kept) == len(members) {
		return nil, errors.New("no such member")
	}
	return json.Marshal(kept)
}
