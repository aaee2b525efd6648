package controlplane

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"
)

const (
	// stopGrace is how long a process gets to exit after SIGTERM.
	stopGrace = 10 * time.Second
	// logTailLines is how much of a process log an error carries.
	logTailLines = 30
	// logTailBytes bounds how much of a log file is read to find its tail.
	logTailBytes = 64 << 10
)

// process is one child (etcd or kube-apiserver) with its output in a log file.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid once done is closed
}

// startProcess starts bin with args, appending its output to logPath.
func startProcess(name, bin string, args []string, logPath string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", name, err)
	}
	// The child has its own copy of the descriptor once started.
	defer logFile.Close()
	fmt.Fprintf(logFile, "==== %s %s\n", time.Now().Format(time.RFC3339), strings.Join(append([]string{bin}, args...), " "))

	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = childEnv()
	setProcAttrs(cmd)
	p := &process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	started := make(chan error)
	go p.run(started)
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return p, nil
}

// run starts and waits for the child on one locked OS thread: Pdeathsig fires
// when the thread that forked the child exits, and Go may otherwise retire
// that thread while the child still runs.
func (p *process) run(started chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := p.cmd.Start(); err != nil {
		started <- err
		return
	}
	started <- nil
	p.waitErr = p.cmd.Wait()
	close(p.done)
}

// exited reports whether the process has ended, and how.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.waitErr
	default:
		return false, nil
	}
}

// stop sends SIGTERM, then SIGKILL after stopGrace, and waits for the exit.
func (p *process) stop() {
	if done, _ := p.exited(); done {
		return
	}
	_ = signalGroup(p.cmd, syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(stopGrace):
	}
	_ = signalGroup(p.cmd, syscall.SIGKILL)
	<-p.done
}

// exitError describes a process that ended while it should be running.
func (p *process) exitError() error {
	return fmt.Errorf("%s exited: %v\n%s", p.name, p.waitErr, p.logTail())
}

// logTail returns the last lines of the process log, for error messages.
func (p *process) logTail() string {
	return fmt.Sprintf("last %d lines of %s:\n%s", logTailLines, p.logPath, indent(tailFile(p.logPath, logTailLines)))
}

func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.Size() > logTailBytes {
		_, _ = f.Seek(-logTailBytes, io.SeekEnd)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return lastLines(bytes.TrimSpace(data), n)
}

// childEnv is the environment without variables that would silently
// reconfigure the children: etcd reads every ETCD_* variable as a flag.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD_") && !strings.HasPrefix(kv, "KUBECONFIG=") {
			env = append(env, kv)
		}
	}
	return env
}
