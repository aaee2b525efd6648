package v1alpha1

import (
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// IssuerReadiness says which issuers' keys gate tokenfed's readiness.
type IssuerReadiness string

const (
	// IssuerReadinessNone: issuers never gate readiness; /readyz?verbose
	// still reports each one. One member's JWKS outage can never take
	// tokenfed out of its Service.
	IssuerReadinessNone IssuerReadiness = "none"
	// IssuerReadinessAny: ready once the keys of at least one gating issuer
	// have loaded.
	IssuerReadinessAny IssuerReadiness = "any"
	// IssuerReadinessAll: ready once the keys of every gating issuer have
	// loaded. A rollout with a mistyped issuer URL stalls on its first new
	// pod instead of replacing working ones.
	IssuerReadinessAll IssuerReadiness = "all"
)

// Readiness configures what /readyz waits for besides the serving
// certificate.
type Readiness struct {
	// Issuers is none, any or all. Default none.
	//
	// Only the issuers of the configuration tokenfed started with gate, and
	// each only until its keys first load: stale keys still verify, so a
	// later outage of an issuer never turns a ready pod unready. Issuers
	// added or changed by a hot reload are reported but never gate, because
	// a ConfigMap edit reaches every replica at once and gating on it would
	// take them all out of the Service together.
	Issuers IssuerReadiness `json:"issuers,omitempty"`
}

func setReadinessDefaults(r *Readiness) {
	if r.Issuers == "" {
		r.Issuers = IssuerReadinessNone
	}
}

func validateReadiness(r *Readiness, p *field.Path) field.ErrorList {
	switch r.Issuers {
	case IssuerReadinessNone, IssuerReadinessAny, IssuerReadinessAll:
		return nil
	}
	return field.ErrorList{field.NotSupported(p.Child("issuers"), r.Issuers,
		[]IssuerReadiness{IssuerReadinessNone, IssuerReadinessAny, IssuerReadinessAll})}
}
