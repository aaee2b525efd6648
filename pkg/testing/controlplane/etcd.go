package controlplane

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// pollInterval is how often start-up readiness is checked.
const pollInterval = 250 * time.Millisecond

// startEtcd runs a single-member etcd on loopback ports and waits until it
// is healthy, retrying with new ports if one was taken meanwhile.
func startEtcd(ctx context.Context, bin, dir, name string) (*process, string, error) {
	var lastErr error
	for range maxPortAttempts {
		proc, url, err := launchEtcd(ctx, bin, dir, name)
		if !isAddrInUse(err) {
			return proc, url, err
		}
		lastErr = err
	}
	return nil, "", lastErr
}

func launchEtcd(ctx context.Context, bin, dir, name string) (*process, string, error) {
	clientPort, err := freePort()
	if err != nil {
		return nil, "", err
	}
	peerPort, err := freePort()
	if err != nil {
		return nil, "", err
	}
	clientURL := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	proc, err := startProcess("etcd", bin, etcdArgs(dir, name, clientURL, peerURL), filepath.Join(dir, "etcd.log"))
	if err != nil {
		return nil, "", err
	}
	if err := waitEtcdHealthy(ctx, proc, clientURL); err != nil {
		proc.stop()
		return nil, "", err
	}
	return proc, clientURL, nil
}

func etcdArgs(dir, name, clientURL, peerURL string) []string {
	return []string{
		"--name=" + name,
		"--data-dir=" + filepath.Join(dir, "etcd-data"),
		"--listen-client-urls=" + clientURL,
		"--advertise-client-urls=" + clientURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=" + name + "=" + peerURL,
		"--log-level=warn",
		// The data dies with the test; fsync would only slow every write.
		"--unsafe-no-fsync",
	}
}

// waitEtcdHealthy polls etcd's /health until it answers 200, etcd exits or
// ctx ends.
func waitEtcdHealthy(ctx context.Context, proc *process, clientURL string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	var last string
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		if done, _ := proc.exited(); done {
			return false, proc.exitError()
		}
		ok, answer := etcdHealthy(ctx, client, clientURL)
		last = answer
		return ok, nil
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("etcd not healthy (last answer: %s): %w\n%s", last, err, proc.logTail())
	}
	return err
}

func etcdHealthy(ctx context.Context, client *http.Client, clientURL string) (bool, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, clientURL+"/health", nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return resp.StatusCode == http.StatusOK, fmt.Sprintf("%d %s", resp.StatusCode, body)
}
