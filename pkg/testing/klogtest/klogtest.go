package klogtest

import (
	"bytes"
	"flag"
	"os"
	"sync"
	"testing"

	"k8s.io/klog/v2"
)

// Buffer is klog's output; client-go's debugging round tripper writes from
// more than one goroutine.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String flushes klog and returns everything it wrote so far.
func (b *Buffer) String() string {
	klog.Flush()
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// AtV10 sends klog's output to a Buffer at -v=10 until the test ends. It
// must run before a client-go client is built: client-go adds its
// debugging round tripper only when -v=6 is on at that time.
func AtV10(t testing.TB) *Buffer {
	t.Helper()
	var fs flag.FlagSet
	klog.InitFlags(&fs)
	for k, v := range map[string]string{"v": "10", "logtostderr": "false", "alsologtostderr": "false"} {
		if err := fs.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	buf := &Buffer{}
	klog.SetOutput(buf)
	t.Cleanup(func() {
		klog.Flush()
		_ = fs.Set("v", "0")
		_ = fs.Set("logtostderr", "true")
		klog.SetOutput(os.Stderr)
	})
	return buf
}
