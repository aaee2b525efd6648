package tokenfedproc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
)

// DefaultVerbosity is tokenfed's -v in tests: the highest, so that the
// token scan (secretscan) reads everything tokenfed and its libraries can
// log, response bodies included.
const DefaultVerbosity = 10

// Options configure one tokenfed process.
type Options struct {
	// Dir holds certificates, config and log. Required.
	Dir string
	// Config is written as the config file; Start fills server.* (port,
	// certificates, client CA) where they are empty.
	Config v1alpha1.Configuration
	// NoClientCA lets any caller in, without a client certificate.
	NoClientCA bool
	// Verbosity is tokenfed's -v; nil means DefaultVerbosity. Lower it only
	// where log volume would distort a measurement.
	Verbosity *int
	// Args are extra `tokenfed serve` arguments, after the ones Start
	// sets; a flag given again here wins.
	Args []string
	// Stdout/Stderr receive the process output; default: Dir/tokenfed.log.
	Output *os.File
	// WaitPath is what Start polls until it answers 200: /readyz by
	// default; /livez for a process that is meant to stay unready.
	WaitPath string
}

// Process is a running tokenfed.
type Process struct {
	URL        string // https://127.0.0.1:PORT
	Port       int
	Certs      devcerts.Files
	ConfigFile string
	LogFile    string
	// ResponsesFile holds every response body read through Client.
	ResponsesFile string
	// outputFile is where the process writes: LogFile or Options.Output.
	outputFile string
	cmd        *exec.Cmd
	done       chan struct{}
	waitErr    error
	stopOnce   sync.Once
}

// Start writes certificates and config into opts.Dir, starts tokenfed and
// waits until /readyz answers ok.
func Start(ctx context.Context, opts Options) (*Process, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	p, err := prepare(opts)
	if err != nil {
		return nil, err
	}
	if err := p.start(bin, opts); err != nil {
		return nil, err
	}
	if err := p.waitFor(ctx, opts.WaitPath, 30*time.Second); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

func prepare(opts Options) (*Process, error) {
	certs, err := devcerts.Write(filepath.Join(opts.Dir, "certs"))
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	cfg := opts.Config
	cfg.APIVersion, cfg.Kind = v1alpha1.GroupName+"/"+v1alpha1.Version, v1alpha1.Kind
	fillServer(&cfg.Server, certs, port, !opts.NoClientCA)
	// Without a client CA and caller tokens, anonymous callers must be
	// admitted explicitly.
	cfg.Callers.AllowAnonymous = cfg.Server.ClientCAFile == "" && cfg.Callers.Tokens == nil
	p := &Process{URL: fmt.Sprintf("https://127.0.0.1:%d", port), Port: port, Certs: certs,
		ConfigFile: filepath.Join(opts.Dir, "tokenfed.yaml"), LogFile: filepath.Join(opts.Dir, "tokenfed.log"),
		ResponsesFile: filepath.Join(opts.Dir, "responses.log")}
	// Written defaulted, so the file shows what tokenfed runs with (the
	// demo points users at it) instead of zero values that mean "default".
	v1alpha1.SetDefaults(&cfg)
	data, err := yaml.Marshal(&cfg)
	if err != nil {
		return nil, err
	}
	return p, os.WriteFile(p.ConfigFile, data, 0o600)
}

func fillServer(s *v1alpha1.Server, certs devcerts.Files, port int, clientCA bool) {
	s.BindAddress = "127.0.0.1"
	s.SecurePort = int32(port)
	if s.TLSCertFile == "" {
		s.TLSCertFile, s.TLSPrivateKeyFile = certs.ServingCert, certs.ServingKey
	}
	if clientCA && s.ClientCAFile == "" {
		s.ClientCAFile = certs.CACert
	}
}

func (p *Process) start(bin string, opts Options) error {
	out := opts.Output
	if out == nil {
		f, err := os.Create(p.LogFile)
		if err != nil {
			return err
		}
		out = f
	}
	p.outputFile = out.Name()
	verbosity := DefaultVerbosity
	if opts.Verbosity != nil {
		verbosity = *opts.Verbosity
	}
	args := append([]string{"serve", "--config", p.ConfigFile, "-v", strconv.Itoa(verbosity)}, opts.Args...)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = out, out
	// Die with the test binary, even if it is killed.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("starting tokenfed: %w", err)
	}
	p.done = make(chan struct{})
	go func() { p.waitErr = p.cmd.Wait(); close(p.done) }()
	return nil
}

// WaitReady polls /readyz until it answers 200, the process exits, or the
// timeout passes.
func (p *Process) WaitReady(ctx context.Context, timeout time.Duration) error {
	return p.waitFor(ctx, "/readyz", timeout)
}

func (p *Process) waitFor(ctx context.Context, path string, timeout time.Duration) error {
	if path == "" {
		path = "/readyz"
	}
	client := p.Client()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("tokenfed exited before it was ready: %v\n%s", p.waitErr, p.LogTail(30))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if resp, err := client.Get(p.URL + path); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("tokenfed's %s not 200 after %s\n%s", path, timeout, p.LogTail(30))
}

// ReadyzVerbose gets /readyz?verbose with Client's certificate, and
// returns the status code and the body.
func (p *Process) ReadyzVerbose() (int, string, error) {
	resp, err := p.Client().Get(p.URL + "/readyz?verbose")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// EditConfig rewrites the config file as the kubelet updates a ConfigMap
// volume: the new content is written aside and renamed into place, so
// tokenfed never reads half a file.
func (p *Process) EditConfig(edit func(*v1alpha1.Configuration)) error {
	data, err := os.ReadFile(p.ConfigFile)
	if err != nil {
		return err
	}
	var cfg v1alpha1.Configuration
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		return err
	}
	edit(&cfg)
	if data, err = yaml.Marshal(&cfg); err != nil {
		return err
	}
	tmp := p.ConfigFile + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p.ConfigFile)
}

// Client is an HTTPS client that trusts the dev CA and presents the dev
// client certificate. It registers the tokens it sends with secretscan
// and records the response bodies it reads in ResponsesFile.
func (p *Process) Client() *http.Client {
	next := &http.Transport{TLSClientConfig: p.TLSConfig(), ForceAttemptHTTP2: true}
	return &http.Client{Transport: &recordingTransport{next: next, file: p.ResponsesFile}, Timeout: 30 * time.Second}
}

// TLSConfig trusts the dev CA and presents the dev client certificate.
func (p *Process) TLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	if ca, err := os.ReadFile(p.Certs.CACert); err == nil {
		pool.AppendCertsFromPEM(ca)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if pair, err := tls.LoadX509KeyPair(p.Certs.ClientCert, p.Certs.ClientKey); err == nil {
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Wait waits for exit and returns the exit code.
func (p *Process) Wait(timeout time.Duration) (int, error) {
	select {
	case <-p.done:
	case <-time.After(timeout):
		return -1, errors.New("tokenfed did not exit in time")
	}
	return p.cmd.ProcessState.ExitCode(), nil
}

// Stop terminates the process (SIGTERM, then SIGKILL), waits, and keeps
// its log and recorded responses for the token scan (see Recorded).
func (p *Process) Stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.terminate()
	p.stopOnce.Do(func() {
		if err := p.keepRecords(); err != nil {
			// Stop runs in cleanups, with no test to fail; the scan fails
			// on the file it could not keep (see keep), and this says why.
			fmt.Fprintf(os.Stderr, "tokenfedproc: %v\n", err)
		}
	})
}

func (p *Process) terminate() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// LogTail is the last n lines of the log, for failure messages.
func (p *Process) LogTail(n int) string {
	data, _ := os.ReadFile(p.LogFile)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// FreePort asks the kernel for a free loopback port.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return strconv.Atoi(port)
}

// MetricLines returns the /metrics lines that start with prefix, joined by
// newlines ("" when none do).
func (p *Process) MetricLines(prefix string) (string, error) {
	resp, err := p.Client().Get(p.URL + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n"), nil
}
