package configreload

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
)

// fixture is a watcher on a real file whose Load accepts any content but
// "broken", and whose Apply records what it was given.
type fixture struct {
	path    string
	w       *Watcher
	reg     *prometheus.Registry
	applied []string
}

func newFixture(t *testing.T, initial string) *fixture {
	t.Helper()
	f := &fixture{path: filepath.Join(t.TempDir(), "config.yaml"), reg: prometheus.NewRegistry()}
	f.write(t, initial)
	f.w = New(Options{
		Path: f.path, Initial: []byte(initial), Registerer: f.reg,
		Load: func(data []byte) (*v1alpha1.Configuration, error) {
			if strings.Contains(string(data), "broken") {
				return nil, errors.New("issuers[0].url: Required value")
			}
			return &v1alpha1.Configuration{OpaqueTokenUpstream: string(data)}, nil
		},
		Apply: func(_ context.Context, cfg *v1alpha1.Configuration) error {
			f.applied = append(f.applied, cfg.OpaqueTokenUpstream)
			return nil
		},
	})
	return f
}

func (f *fixture) write(t *testing.T, content string) {
	t.Helper()
	if err := os.WriteFile(f.path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) gauge(t *testing.T) float64 {
	t.Helper()
	return testutil.ToFloat64(f.w.metrics.successful)
}

func (f *fixture) count(result string) float64 {
	return testutil.ToFloat64(f.w.metrics.reloads.WithLabelValues(result))
}

func TestReloadAppliesNewContentOnce(t *testing.T) {
	f := newFixture(t, "one")
	f.w.Poll(context.Background())
	if len(f.applied) != 0 {
		t.Fatalf("unchanged file applied: %v", f.applied)
	}
	f.write(t, "two")
	f.w.Poll(context.Background())
	f.w.Poll(context.Background())
	if len(f.applied) != 1 || f.applied[0] != "two" {
		t.Fatalf("got applied %v, want [two] once", f.applied)
	}
	if f.gauge(t) != 1 || f.count("success") != 1 || f.count("failure") != 0 {
		t.Errorf("got gauge %v, successes %v, failures %v; want 1, 1, 0", f.gauge(t), f.count("success"), f.count("failure"))
	}
	if err := f.w.Check().Check(nil); err != nil {
		t.Errorf("check: %v", err)
	}
}

func TestReloadRefusesBrokenContentAndKeepsServing(t *testing.T) {
	f := newFixture(t, "one")
	f.write(t, "broken")
	f.w.Poll(context.Background()) // read once: not settled yet
	f.w.Poll(context.Background())
	f.w.Poll(context.Background()) // the same content is refused once, not every tick
	if len(f.applied) != 0 {
		t.Fatalf("broken content applied: %v", f.applied)
	}
	if f.gauge(t) != 0 || f.count("failure") != 1 {
		t.Errorf("got gauge %v and %v failures, want 0 and 1", f.gauge(t), f.count("failure"))
	}
	err := f.w.Check().Check(nil)
	if err == nil || !strings.Contains(err.Error(), "issuers[0].url: Required value") || !strings.Contains(err.Error(), "last good configuration keeps serving") {
		t.Errorf("got check %v, want the refusal and its reason", err)
	}
	if !f.w.Check().Informational() {
		t.Errorf("the config check gates readiness; a broken edit would take every replica out at once")
	}

	// Back to the content in force: nothing to apply, the refusal is over.
	f.write(t, "one")
	f.w.Poll(context.Background())
	if len(f.applied) != 0 || f.gauge(t) != 1 || f.w.Check().Check(nil) != nil {
		t.Errorf("after restoring the file: applied %v, gauge %v, check %v; want nothing applied, 1, nil", f.applied, f.gauge(t), f.w.Check().Check(nil))
	}

	// A good new content after a refused one is applied.
	f.write(t, "broken")
	f.w.Poll(context.Background())
	f.write(t, "three")
	f.w.Poll(context.Background())
	f.w.Poll(context.Background())
	if len(f.applied) != 1 || f.applied[0] != "three" || f.gauge(t) != 1 {
		t.Errorf("got applied %v and gauge %v, want [three] and 1", f.applied, f.gauge(t))
	}
}

func TestReloadSurvivesMissingFile(t *testing.T) {
	f := newFixture(t, "one")
	if err := os.Remove(f.path); err != nil {
		t.Fatal(err)
	}
	f.w.Poll(context.Background())
	f.w.Poll(context.Background())
	if f.count("failure") != 1 || f.w.Check().Check(nil) == nil {
		t.Errorf("got %v failures and check %v, want one failure reported", f.count("failure"), f.w.Check().Check(nil))
	}
	f.write(t, "one")
	f.w.Poll(context.Background())
	if f.gauge(t) != 1 || len(f.applied) != 0 {
		t.Errorf("got gauge %v, applied %v; want 1 and nothing applied", f.gauge(t), f.applied)
	}
}

func TestReloadKeepsConfigWhenApplyFails(t *testing.T) {
	f := newFixture(t, "one")
	f.w.opts.Apply = func(context.Context, *v1alpha1.Configuration) error {
		return errors.New("routing: two issuers claim kid k1")
	}
	f.write(t, "two")
	f.w.Poll(context.Background())
	f.w.Poll(context.Background())
	if f.gauge(t) != 0 || !strings.Contains(errString(f.w.Check().Check(nil)), "two issuers claim kid k1") {
		t.Errorf("got gauge %v and check %v, want 0 and the Apply error", f.gauge(t), f.w.Check().Check(nil))
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// The file is read bounded, and only when it is a regular file: a file
// swapped for a huge one, /dev/zero or a FIFO is refused (the last good
// configuration keeps serving), never read into memory whole or waited on
// forever.
func TestReloadRefusesWhatIsNotASmallRegularFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(t *testing.T, path string)
	}{
		{"larger than the limit", func(t *testing.T, path string) {
			if err := os.WriteFile(path, make([]byte, v1alpha1.MaxConfigFileBytes+1), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"FIFO", func(t *testing.T, path string) {
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Skip(err)
			}
		}},
		{"device", func(t *testing.T, path string) {
			if err := os.Symlink("/dev/zero", path); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, "one")
			if err := os.Remove(f.path); err != nil {
				t.Fatal(err)
			}
			tc.make(t, f.path)
			done := make(chan struct{})
			go func() {
				defer close(done)
				f.w.Poll(context.Background())
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Poll did not return")
			}
			if len(f.applied) != 0 {
				t.Errorf("applied %d configurations, want none", len(f.applied))
			}
			if err := f.w.Check().Check(nil); err == nil {
				t.Errorf("check passes, want the refusal shown")
			} else {
				t.Log(err)
			}
		})
	}
}

// A file being written in place (truncated, then written) can be read
// half-way, and a prefix of a configuration is often a valid one with
// another meaning: a callers.authorization.static list cut short, an
// issuer without its upstream policy. A new content is applied only once
// two reads in a row found it; SIGHUP, sent once the file is written,
// applies it at once.
func TestReloadAppliesOnlyASettledContent(t *testing.T) {
	f := newFixture(t, "one")
	f.write(t, "one-trunc")
	f.w.Poll(context.Background())
	f.write(t, "one-truncated-then-complete")
	f.w.Poll(context.Background())
	if len(f.applied) != 0 {
		t.Fatalf("applied %q, want nothing before a content is read twice", f.applied)
	}
	f.w.Poll(context.Background())
	if len(f.applied) != 1 || f.applied[0] != "one-truncated-then-complete" {
		t.Fatalf("applied %q, want the complete content only", f.applied)
	}

	f.write(t, "signalled")
	now := make(chan struct{}, 1)
	now <- struct{}{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	f.w.opts.Interval = time.Hour
	go func() {
		defer close(done)
		f.w.Run(ctx, now)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for f.w.Check().Detail() == "" || f.appliedDigest() != digest([]byte("signalled")) {
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if f.appliedDigest() != digest([]byte("signalled")) {
		t.Errorf("after SIGHUP: %q applied, want \"signalled\" at once", f.applied)
	}
}

func (f *fixture) appliedDigest() string { return f.w.appliedDigest() }
