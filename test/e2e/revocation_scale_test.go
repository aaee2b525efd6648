package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// Scale of TestRevocationWatchMemory: objects of each kind on the hub,
// spread over namespaces as a real cluster's are.
const (
	scaleObjects    = 10000
	scaleNamespaces = 100
	scaleWorkers    = 32
	// maxBytesPerObject is the RSS the watch may add per object it holds.
	maxBytesPerObject = 1024
)

// TestRevocationWatchMemory has the hub hold 10,000 ServiceAccounts and
// 10,000 Pods, and measures what tokenfed's revocation watch adds to its
// resident memory per object held: the RSS after it has synced them
// (each time after a forced GC and a pause for the scavenger), less the
// RSS before they existed, over the objects added. It must stay under
// 1 KiB. A token is then still decided by the watch. It takes about 70 s,
// half of it creating the objects.
func TestRevocationWatchMemory(t *testing.T) {
	hub := startUpstreamHub(t)
	verbosity := 2 // -v=10 would log every watch event, and count its buffers
	p, err := tokenfedproc.Start(ctx(t), tokenfedproc.Options{Dir: t.TempDir(), Verbosity: &verbosity, Args: []string{"--profiling"},
		Config: v1alpha1.Configuration{Issuers: []v1alpha1.Issuer{watchIssuer(hub, hub.Kubeconfig, v1alpha1.Revocation{})}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	waitRevocationSynced(t, p, "hub", 30*time.Second)
	heldBefore := metricSum(t, p, `tokenfed_revocation_objects{issuer="hub"`)
	rssBefore, heapBefore := settledMemory(t, p)

	start := time.Now()
	createScaleObjects(t, hub.RESTConfig)
	t.Logf("created %d ServiceAccounts and %d Pods in %d namespaces in %s", scaleObjects, scaleObjects, scaleNamespaces, time.Since(start).Round(time.Second))
	want := heldBefore + 2*scaleObjects + scaleNamespaces // each namespace's default ServiceAccount too
	err = wait.PollUntilContextTimeout(ctx(t), 200*time.Millisecond, time.Minute, true, func(ctxt context.Context) (bool, error) {
		return metricSum(t, p, `tokenfed_revocation_objects{issuer="hub"`) >= want, nil
	})
	if err != nil {
		t.Fatalf("the watch holds %v objects, want %v:\n%s", metricSum(t, p, `tokenfed_revocation_objects{issuer="hub"`), want, metric(t, p, "tokenfed_revocation_"))
	}
	held := metricSum(t, p, `tokenfed_revocation_objects{issuer="hub"`) - heldBefore
	rssAfter, heapAfter := settledMemory(t, p)
	perObject := (rssAfter - rssBefore) / held
	t.Logf("watch holds %v more objects: RSS %.1f -> %.1f MiB (%.0f B/object), Go heap in use %.1f -> %.1f MiB (%.0f B/object)",
		held, rssBefore/(1<<20), rssAfter/(1<<20), perObject, heapBefore/(1<<20), heapAfter/(1<<20), (heapAfter-heapBefore)/held)
	if perObject >= maxBytesPerObject {
		t.Errorf("the watch adds %.0f B of RSS per object, want under %d", perObject, maxBytesPerObject)
	}
	token := mintToken(t, hub, scaleNamespace(0), "obj-00000")
	wantAuthenticated(t, tokenfedClient(t, p), token, "a token of one of the ServiceAccounts")
	if got := metricValue(t, p, `tokenfed_revocation_checks_total{issuer="hub",verdict="valid"}`); got != 1 {
		t.Errorf("got %v valid revocation checks, want 1", got)
	}
}

func scaleNamespace(i int) string { return fmt.Sprintf("scale-%03d", i%scaleNamespaces) }

// settledMemory forces a GC in tokenfed (/debug/pprof/heap?gc=1), gives
// the scavenger time to return freed pages, and returns the lowest RSS
// and heap in use seen over a few seconds.
func settledMemory(t *testing.T, p *tokenfedproc.Process) (rss, heap float64) {
	t.Helper()
	rss, heap = -1, -1
	for range 2 {
		get(t, p.Client(), p.URL+"/debug/pprof/heap?gc=1")
		for range 5 {
			time.Sleep(time.Second)
			r, h := metricValue(t, p, "process_resident_memory_bytes"), metricValue(t, p, "go_memstats_heap_inuse_bytes")
			if rss < 0 || r < rss {
				rss = r
			}
			if heap < 0 || h < heap {
				heap = h
			}
		}
	}
	return rss, heap
}

// createScaleObjects creates the namespaces, then their ServiceAccounts
// and Pods with scaleWorkers requests in flight, without client-side rate
// limiting.
func createScaleObjects(t *testing.T, admin *rest.Config) {
	t.Helper()
	cfg := rest.CopyConfig(admin)
	cfg.QPS, cfg.Burst = -1, 0
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ns := scaleNamespace
	run(t, scaleNamespaces, func(i int) error {
		if _, err := c.CoreV1().Namespaces().Create(ctx(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns(i)}}, metav1.CreateOptions{}); err != nil {
			return err
		}
		_, err := c.CoreV1().ServiceAccounts(ns(i)).Create(ctx(t), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
		return err
	})
	run(t, 2*scaleObjects, func(i int) error {
		meta := metav1.ObjectMeta{Namespace: ns(i), Name: fmt.Sprintf("obj-%05d", i/2),
			Labels: map[string]string{"app": "scale", "tier": "test"}, Annotations: map[string]string{"note": strings.Repeat("x", 64)}}
		if i%2 == 0 {
			_, err := c.CoreV1().ServiceAccounts(meta.Namespace).Create(ctx(t), &corev1.ServiceAccount{ObjectMeta: meta}, metav1.CreateOptions{})
			return err
		}
		pod := &corev1.Pod{ObjectMeta: meta, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "registry.k8s.io/pause:3.10"}}}}
		_, err := c.CoreV1().Pods(meta.Namespace).Create(ctx(t), pod, metav1.CreateOptions{})
		return err
	})
}

// run calls f(0..n-1) from scaleWorkers goroutines and fails on the first
// error.
func run(t *testing.T, n int, f func(i int) error) {
	t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, scaleWorkers)
	for range scaleWorkers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := f(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}
