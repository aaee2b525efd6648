package controlplane

import (
	"fmt"
	"net"
	"strings"
	"sync"
)

// maxPortAttempts bounds retries when a picked port is taken before the
// child binds it.
const maxPortAttempts = 3

var (
	portsMu sync.Mutex
	// portsHanded remembers ports already given out by this process, so two
	// control planes starting in parallel never get the same one.
	portsHanded = map[int]bool{}
)

// freePort asks the kernel for a free loopback port. The child binds it
// later, so another process can win the race; callers retry on
// isAddrInUse.
func freePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("pick a free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !portsHanded[port] {
			portsHanded[port] = true
			return port, nil
		}
	}
}

// isAddrInUse reports whether a start failure was a lost port race.
func isAddrInUse(err error) bool {
	return err != nil && strings.Contains(err.Error(), "address already in use")
}
