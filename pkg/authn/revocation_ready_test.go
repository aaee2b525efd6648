package authn

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/tokenfed/tokenfed/pkg/authn/revocation"
)

// TestRevocationReadinessCostDoesNotGrowWithObjects: /readyz is open to
// anyone (the kubelet probes it), and its handler runs every check's
// Check and Detail on every request, whether or not it shows details. A
// probe of a watching issuer must then cost the same on a cluster of
// 200,000 Pods as on an empty one: not a list of every object held, which
// would let any client that reaches the port burn megabytes and
// milliseconds of CPU per request.
func TestRevocationReadinessCostDoesNotGrowWithObjects(t *testing.T) {
	const pods = 200_000
	objs := make([]revocation.FixedObject, 0, pods)
	for i := range pods {
		objs = append(objs, revocation.FixedObject{Resource: "pods", Namespace: fmt.Sprint("ns-", i%100), Name: fmt.Sprint("pod-", i), UID: fmt.Sprint("uid-", i)})
	}
	check := revocationReady{revocation.NewFixed("hub", false, objs...)}
	probe := func() {
		_ = check.Check(nil)
		_ = check.Detail()
	}
	probe()
	const probes = 200
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range probes {
		probe()
	}
	runtime.ReadMemStats(&after)
	if perProbe := (after.TotalAlloc - before.TotalAlloc) / probes; perProbe > 16<<10 {
		t.Errorf("a readiness probe allocates %d bytes with %d pods held, want at most 16 KiB whatever the cluster's size", perProbe, pods)
	}
}
