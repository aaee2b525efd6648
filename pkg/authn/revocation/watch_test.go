package revocation

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/clock"
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

// lingeringWatch is a watch whose result channel closes some time after
// Stop, as client-go's StreamWatcher's does (its decoder goroutine closes
// it once the response body is closed): here, when the test says.
type lingeringWatch struct{ ch chan watch.Event }

func (w *lingeringWatch) ResultChan() <-chan watch.Event { return w.ch }
func (w *lingeringWatch) Stop()                          {}

// TestTrackedWatchSupersededDoesNotBreakItsSuccessor: after a watch error
// the reflector stops the watch and, for an internal error, re-watches at
// once. The stopped watch's end, however late it comes, must not mark
// down the connection its successor has established: the resource would
// then count as broken, and stop vouching after maxWatchOutage, while its
// watch is up, until that watch ends (5 to 10 minutes).
func TestTrackedWatchSupersededDoesNotBreakItsSuccessor(t *testing.T) {
	clk := clocktesting.NewFakeClock(now)
	conn := &connection{clock: clk}
	conn.set(false)

	old := &lingeringWatch{ch: make(chan watch.Event)}
	tw := track(old, conn, false)
	go func() {
		old.ch <- watch.Event{Type: watch.Error, Object: &metav1.Status{Code: 500, Reason: metav1.StatusReasonInternalError}}
	}()
	<-tw.ResultChan()
	tw.Stop()
	next := watch.NewFake()
	defer next.Stop()
	track(next, conn, false)
	clk.Step(time.Second)

	close(old.ch) // the stopped watch's channel closes only now
	drain(tw)
	if up, d := conn.state(clk.Now()); !up {
		t.Fatalf("the stopped watch's end marked its successor's connection down (for %s)", d)
	}
}

// TestTrackedWatchStall: from a server that sends bookmarks, a watch
// silent for the progress timeout has stalled: it ends, and the connection
// is down since its last event. A watch established after a stall is not
// up until it delivers something (it may go through the same stalled
// proxy); it is once it does.
func TestTrackedWatchStall(t *testing.T) {
	const timeout = 50 * time.Millisecond
	conn := &connection{clock: clock.RealClock{}, progressTimeout: timeout}
	conn.set(false)
	events := func(tw *trackedWatch) chan struct{} {
		got := make(chan struct{}, 10)
		go func() {
			for range tw.ResultChan() {
				got <- struct{}{}
			}
			close(got)
		}()
		return got
	}

	fw := watch.NewFake()
	tw := track(fw, conn, false)
	got := events(tw)
	fw.Action(watch.Bookmark, &metav1.PartialObjectMetadata{})
	<-got
	if up, _ := conn.state(time.Now()); !up {
		t.Fatal("a watch that delivered a bookmark is down")
	}
	for range got { // the stalled watch ends
	}
	if up, d := conn.state(time.Now()); up || d < timeout {
		t.Fatalf("stalled watch: got up=%v for %s, want down since its last event", up, d)
	}

	fw = watch.NewFake()
	tw = track(fw, conn, false)
	got = events(tw)
	if up, _ := conn.state(time.Now()); up {
		t.Fatal("a watch established after a stall is up before it delivered anything")
	}
	fw.Add(&metav1.PartialObjectMetadata{})
	<-got
	if up, _ := conn.state(time.Now()); !up {
		t.Fatal("a watch established after a stall is down after it delivered an event")
	}
	tw.Stop()
}
