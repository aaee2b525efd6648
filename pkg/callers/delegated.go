package callers

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/lru"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
)

// SubjectAccessReview attributes of a review: "may review tokens of issuer
// NAME". The review names no namespace, so only cluster-wide grants count:
// a ClusterRole with apiGroups [tokenfed.io], resources [issuers],
// resourceNames [hub], verbs [review], bound by a ClusterRoleBinding.
const (
	APIGroup   = v1alpha1.GroupName
	Resource   = "issuers"
	VerbReview = "review"
)

// webhookRetryBackoff is k8s.io/apiserver's DefaultAuthWebhookRetryBackoff,
// copied to keep its options package (and what it links) out of the binary.
var webhookRetryBackoff = wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}

// policyDelegated labels every caller in Delegated mode.
const policyDelegated = "delegated"

// maxLimiters bounds the per-caller rate limiters kept in Delegated mode;
// the least recently seen callers' buckets are dropped (and start full).
const maxLimiters = 4096

// delegated asks the cluster tokenfed runs in, through k8s.io/apiserver's
// delegating authorizer (SubjectAccessReview with allow and deny caches),
// as kube-rbac-proxy does.
type delegated struct {
	authz  authorizer.Authorizer
	rate   *v1alpha1.RateLimit
	counts *policyCounters
	// unlimited is every caller's admission when there is no rate limit.
	unlimited *Admission

	mu       sync.Mutex
	limiters *lru.Cache
}

var _ decider = &delegated{}

func newDelegated(cfg *v1alpha1.DelegatedAuthorization, rc *rest.Config, m *Metrics) (*delegated, error) {
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("delegated authorization: %w", err)
	}
	authz, err := authorizerfactory.DelegatingAuthorizerConfig{
		SubjectAccessReviewClient: client.AuthorizationV1(),
		AllowCacheTTL:             cfg.AllowCacheTTL.Duration,
		DenyCacheTTL:              cfg.DenyCacheTTL.Duration,
		WebhookRetryBackoff:       &webhookRetryBackoff,
	}.New()
	if err != nil {
		return nil, fmt.Errorf("delegated authorization: %w", err)
	}
	d := &delegated{authz: authz, rate: cfg.RateLimit, counts: m.forPolicy(policyDelegated), limiters: lru.New(maxLimiters)}
	d.unlimited = &Admission{Policy: policyDelegated, grant: delegatedGrant{d}, counts: d.counts}
	return d, nil
}

// admit admits every authenticated caller: whether it may review anything
// is only known per issuer, so the per-issuer answer decides.
func (d *delegated) admit(_ context.Context, u user.Info) (*Admission, bool, error) {
	if d.rate == nil {
		return d.unlimited, true, nil
	}
	return &Admission{Policy: policyDelegated, Limiter: d.limiter(u.GetName()), grant: delegatedGrant{d}, counts: d.counts}, true, nil
}

func (d *delegated) endpoint(ctx context.Context, u user.Info, path string) (bool, error) {
	return d.allowed(ctx, authorizer.AttributesRecord{User: u, Verb: "get", Path: delegatedPath(path)})
}

// ReadyzDetailsPath is the non-resource path asked about for /readyz
// details in Delegated mode. Not "/readyz": Kubernetes' default ClusterRole
// system:public-info-viewer grants get /readyz to every authenticated and
// unauthenticated user, which would hand the details to anyone.
const ReadyzDetailsPath = "/readyz/verbose"

func delegatedPath(path string) string {
	if path == "/readyz" {
		return ReadyzDetailsPath
	}
	return path
}

func (d *delegated) allowed(ctx context.Context, attrs authorizer.AttributesRecord) (bool, error) {
	decision, _, err := d.authz.Authorize(ctx, attrs)
	return decision == authorizer.DecisionAllow, err
}

func (d *delegated) limiter(name string) *rate.Limiter {
	if d.rate == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if l, ok := d.limiters.Get(name); ok {
		return l.(*rate.Limiter)
	}
	l := limiter(d.rate)
	d.limiters.Add(name, l)
	return l
}

type delegatedGrant struct{ d *delegated }

func (g delegatedGrant) issuer(ctx context.Context, u user.Info, name string) (bool, error) {
	return g.d.allowed(ctx, authorizer.AttributesRecord{
		User: u, Verb: VerbReview, APIGroup: APIGroup, Resource: Resource, Name: name, ResourceRequest: true,
	})
}

// audiences are not an RBAC attribute; in Delegated mode any may be asked.
func (delegatedGrant) audiences([]string) bool { return true }
