package app

import (
	"context"
	"crypto/x509"
	"fmt"

	"k8s.io/apiserver/pkg/server/dynamiccertificates"

	"github.com/tokenfed/tokenfed/pkg/callers"
)

// clientCA is the CA bundle of server.clientCAFile, reloaded when the file
// changes. It belongs to the configuration in force: a hot reload that
// names another file loads that one, and one that names none stops
// trusting certificate callers at once, so a CA dropped from the
// configuration (a leaked one, say) is not trusted until a restart.
type clientCA struct {
	path    string
	content *dynamiccertificates.DynamicFileCAContent
	cancel  context.CancelFunc
}

// newClientCA loads path; a nil clientCA (no path) trusts no certificate.
func newClientCA(path string) (*clientCA, error) {
	if path == "" {
		return nil, nil
	}
	content, err := dynamiccertificates.NewDynamicCAContentFromFile("client-ca", path)
	if err != nil {
		return nil, fmt.Errorf("client CA: %w", err)
	}
	return &clientCA{path: path, content: content}, nil
}

// start watches the file until ctx is done or stop.
func (c *clientCA) start(ctx context.Context) {
	if c == nil || c.cancel != nil {
		return
	}
	ctx, c.cancel = context.WithCancel(ctx)
	go c.content.Run(ctx, 1)
}

func (c *clientCA) stop() {
	if c != nil && c.cancel != nil {
		c.cancel()
	}
}

// verifyOptions is the gate's callers.VerifyOptionsFunc.
func (c *clientCA) verifyOptions() (x509.VerifyOptions, bool) {
	if c == nil {
		return x509.VerifyOptions{}, false
	}
	return c.content.VerifyOptions()
}

var _ callers.VerifyOptionsFunc = (*clientCA)(nil).verifyOptions

// successorClientCA is the client CA of a reloaded configuration naming
// path: prev when it names the same file, else a new one (nil for none).
func successorClientCA(prev *clientCA, path string) (*clientCA, error) {
	if prev != nil && prev.path == path {
		return prev, nil
	}
	return newClientCA(path)
}
