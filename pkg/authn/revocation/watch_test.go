package revocation

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	clocktesting "k8s.io/utils/clock/testing"
)

// drain reads t's events until it closes.
func drain(t *trackedWatch) {
	for range t.ResultChan() {
	}
}

func TestTrackedWatch(t *testing.T) {
	clk := clocktesting.NewFakeClock(now)
	conn := &connection{clock: clk}
	conn.set(false)
	clk.Step(time.Minute)

	// A resumed watch is up once accepted, and down when it ends.
	fw := watch.NewFake()
	tw := track(fw, conn, false)
	if up, d := conn.state(clk.Now()); !up || d != 0 {
		t.Fatalf("accepted watch: got up=%v for %s, want up now", up, d)
	}
	go func() {
		fw.Add(&metav1.PartialObjectMetadata{})
		fw.Stop()
	}()
	drain(tw)
	clk.Step(time.Second)
	if up, d := conn.state(clk.Now()); up || d != time.Second {
		t.Fatalf("ended watch: got up=%v for %s, want down for 1s", up, d)
	}

	// One whose first event is an error (410 after an outage) does not
	// end the outage.
	clk.Step(time.Second)
	fw = watch.NewFake()
	tw = track(fw, conn, false)
	go func() {
		fw.Error(&metav1.Status{Code: 410})
		fw.Stop()
	}()
	drain(tw)
	if up, d := conn.state(clk.Now()); up || d != 2*time.Second {
		t.Fatalf("watch refused with an error: got up=%v for %s, want down for 2s, since the first break", up, d)
	}

	// A streaming list is up only once its initial events have arrived.
	fw = watch.NewFake()
	tw = track(fw, conn, true)
	events := make(chan struct{})
	go func() {
		for range tw.ResultChan() {
			events <- struct{}{}
		}
		close(events)
	}()
	fw.Add(&metav1.PartialObjectMetadata{})
	<-events
	if up, _ := conn.state(clk.Now()); up {
		t.Fatal("streaming list: up before its initial events ended")
	}
	fw.Action(watch.Bookmark, &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Annotations: map[string]string{metav1.InitialEventsAnnotationKey: "true"}}})
	<-events
	if up, _ := conn.state(clk.Now()); !up {
		t.Fatal("streaming list: down after its initial events ended")
	}
	tw.Stop()
	for range events {
	}
}
