package jwt

import (
	"errors"
	"strconv"
	"unsafe"

	josejson "github.com/go-jose/go-jose/v4/json"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenfed/tokenfed/pkg/authn/jws"
)

// errClaimType is any claim of the wrong JSON type; like go-jose's
// decoder, the decoder does not say which, so no claim value is quoted.
var errClaimType = errors.New("claims have the wrong type")

// maxNumericDate is go-jose's bound on a NumericDate (jwt/claims.go):
// beyond it the int64 conversion or time.Unix would wrap.
const maxNumericDate = 1 << 62

// decodeSAClaims decodes a service-account token's claims, already parsed
// by package jws, into saClaims exactly as go-jose's JSON decoder
// (github.com/go-jose/go-jose/v4/json, which kube-apiserver's
// pkg/serviceaccount uses) would decode the payload: names matched exactly,
// null leaving a string empty and a pointer nil, any other type mismatch
// refused, duplicate names refused in every object it decodes. Values are
// read in place from the parse; only the strings kept are allocated.
// TestClaimsDecoderAgreesWithGoJose holds it to go-jose's decoder.
func decodeSAClaims(o *jws.Object) (*saClaims, error) {
	c := &saClaims{}
	for _, m := range o.Members() {
		if err := c.set(m.Name, m.Value); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *saClaims) set(name string, raw []byte) error {
	var err error
	switch name {
	case "iss":
		c.Issuer, err = jws.DecodeString(raw)
	case "sub":
		c.Subject, err = jws.DecodeString(raw)
	case "jti":
		c.ID, err = jws.DecodeString(raw)
	case "aud":
		c.Audience, err = decodeAudience(raw)
	case "exp":
		c.Expiry, err = decodeNumericDate(raw)
	case "nbf":
		c.NotBefore, err = decodeNumericDate(raw)
	case "iat":
		c.IssuedAt, err = decodeNumericDate(raw)
	case "kubernetes.io":
		c.Kubernetes, err = decodeKubernetes(raw)
	case "kubernetes.io/serviceaccount/namespace":
		c.LegacyNamespace, err = jws.DecodeString(raw)
	case "kubernetes.io/serviceaccount/secret.name":
		c.LegacySecretName, err = jws.DecodeString(raw)
	case "kubernetes.io/serviceaccount/service-account.name":
		c.LegacyServiceAccountName, err = jws.DecodeString(raw)
	case "kubernetes.io/serviceaccount/service-account.uid":
		c.LegacyServiceAccountUID, err = jws.DecodeString(raw)
	}
	if err != nil {
		return errClaimType
	}
	return nil
}

// decodeAudience is josejwt.Audience's UnmarshalJSON: a string, or a list
// of strings; null and anything else are refused.
func decodeAudience(raw []byte) (josejwt.Audience, error) {
	if raw[0] == '"' {
		s, err := jws.DecodeString(raw)
		return josejwt.Audience{s}, err
	}
	aud, err := jws.DecodeStrings(raw)
	if err != nil {
		return nil, errClaimType
	}
	return aud, nil
}

// decodeNumericDate is josejwt.NumericDate's UnmarshalJSON for a pointer
// field: null is nil, a number within ±2^62 seconds is kept (truncated to
// whole seconds), anything else is refused.
func decodeNumericDate(raw []byte) (*josejwt.NumericDate, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	f, err := strconv.ParseFloat(unsafe.String(&raw[0], len(raw)), 64)
	if err != nil || f >= maxNumericDate || f <= -maxNumericDate {
		return nil, errClaimType
	}
	d := josejwt.NumericDate(f)
	return &d, nil
}

// refsRoom covers the members of the kubernetes.io claim and its refs.
const refsRoom = 12

func decodeKubernetes(raw []byte) (*kubernetesClaims, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	var room [refsRoom]jws.Member
	members, err := decodeObject(raw, room[:])
	if err != nil {
		return nil, err
	}
	k := &kubernetesClaims{}
	for _, m := range members {
		if err := k.set(m.Name, m.Value); err != nil {
			return nil, err
		}
	}
	return k, nil
}

func (k *kubernetesClaims) set(name string, raw []byte) error {
	var err error
	switch name {
	case "namespace":
		k.Namespace, err = jws.DecodeString(raw)
	case "serviceaccount":
		err = k.ServiceAccount.decode(raw)
	case "pod":
		k.Pod, err = decodeRef(raw)
	case "secret":
		k.Secret, err = decodeRef(raw)
	case "node":
		k.Node, err = decodeRef(raw)
	case "validatingwebhookconfiguration":
		k.Validating, err = decodeRef(raw)
	case "mutatingwebhookconfiguration":
		k.Mutating, err = decodeRef(raw)
	case "warnafter":
		k.WarnAfter, err = decodeNumericDate(raw)
	case "attestations":
		k.Attestations = nil
		err = josejson.Unmarshal(raw, &k.Attestations)
	}
	return err
}

// decodeRef decodes a pointer-to-ref claim: null is nil.
func decodeRef(raw []byte) (*ref, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	r := &ref{}
	return r, r.decode(raw)
}

// decode decodes into r; null leaves it as it is, as go-jose does for a
// struct.
func (r *ref) decode(raw []byte) error {
	if string(raw) == "null" {
		return nil
	}
	var room [refsRoom]jws.Member
	members, err := decodeObject(raw, room[:])
	if err != nil {
		return err
	}
	for _, m := range members {
		switch m.Name {
		case "name":
			r.Name, err = jws.DecodeString(m.Value)
		case "uid":
			r.UID, err = jws.DecodeString(m.Value)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// decodeObject refuses what is not an object, and duplicate names.
func decodeObject(raw []byte, room []jws.Member) ([]jws.Member, error) {
	if raw[0] != '{' {
		return nil, errClaimType
	}
	return jws.DecodeObject(raw, room)
}
