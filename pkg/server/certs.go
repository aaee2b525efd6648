package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync/atomic"
	"time"

	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/klog/v2"
)

// firstLoadTimeout bounds how long Run waits for the serving certificate
// files to load: long enough for files still being written, short enough
// that a wrong path fails the start with a clear error.
const firstLoadTimeout = 5 * time.Second

// servingCert is the serving certificate, reloaded when its files change.
//
// Files are watched as kube-apiserver watches its own serving certificate
// (k8s.io/apiserver's dynamiccertificates: inotify, re-armed when the
// kubelet or cert-manager swap the files by rename or symlink), so a
// renewal is served within moments. They are also polled every interval:
// inotify can be unavailable (a node out of inotify instances, some network
// filesystems), and then the watch alone would never see a renewal.
type servingCert struct {
	certFile, keyFile string
	interval          time.Duration

	content *dynamiccertificates.DynamicCertKeyPairContent
	logger  klog.Logger
	// current is nil until the files first load; afterwards it is the
	// last pair that loaded, which keeps being served if the files break.
	current atomic.Pointer[tls.Certificate]
}

func newServingCert(certFile, keyFile string, interval time.Duration) *servingCert {
	return &servingCert{certFile: certFile, keyFile: keyFile, interval: interval}
}

// loaded reports whether a certificate has ever loaded.
func (c *servingCert) loaded() bool { return c.current.Load() != nil }

// GetCertificate is tls.Config's: the pair loaded last.
func (c *servingCert) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if cert := c.current.Load(); cert != nil {
		return cert, nil
	}
	return nil, fmt.Errorf("no serving certificate loaded")
}

// load reads the files, retrying for up to firstLoadTimeout. The error
// names the files and why the last attempt failed.
func (c *servingCert) load(ctx context.Context) error {
	content, err := c.firstLoad(ctx)
	if err != nil {
		return fmt.Errorf("serving certificate %s / key %s could not be loaded: %w", c.certFile, c.keyFile, err)
	}
	c.content, c.logger = content, klog.FromContext(ctx)
	// Before watch: the listener list is not safe to change once it runs.
	content.AddListener(c)
	c.Enqueue()
	return nil
}

// watch keeps the loaded files reloaded until ctx is done.
func (c *servingCert) watch(ctx context.Context) {
	go c.content.Run(ctx, 1)
	go c.poll(ctx)
}

func (c *servingCert) firstLoad(ctx context.Context) (*dynamiccertificates.DynamicCertKeyPairContent, error) {
	deadline := time.Now().Add(firstLoadTimeout)
	for {
		content, err := dynamiccertificates.NewDynamicServingContentFromFiles("serving-cert", c.certFile, c.keyFile)
		if err == nil || time.Now().After(deadline) {
			return content, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Enqueue is dynamiccertificates.Listener's: the content changed, and it
// only ever changes to a pair that parsed and matches, so the parse here
// fails only if the library broke that promise.
func (c *servingCert) Enqueue() {
	certPEM, keyPEM := c.content.CurrentCertKeyContent()
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		c.logger.Error(err, "serving certificate not swapped in", "certFile", c.certFile)
		return
	}
	if c.current.Swap(&cert) == nil {
		return // the first load, which Run reports by serving
	}
	kv := []any{"certFile", c.certFile}
	if leaf := cert.Leaf; leaf != nil { // nil only with GODEBUG=x509keypairleaf=0
		kv = append(kv, "serial", leaf.SerialNumber, "notAfter", leaf.NotAfter)
	}
	c.logger.Info("serving certificate reloaded", kv...)
}

// poll re-reads the files every interval. A failure is logged when it
// starts and when it ends, not on every tick: halfway through a renewal
// the key may not match the certificate yet, and the old pair keeps
// being served meanwhile.
func (c *servingCert) poll(ctx context.Context) {
	if c.interval <= 0 {
		return
	}
	ticker := time.NewTicker(c.interval)
	defer ticker.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		err := c.content.RunOnce(ctx)
		switch {
		case err != nil && !failing:
			c.logger.Error(err, "serving certificate files do not load; still serving the last pair that did", "certFile", c.certFile, "keyFile", c.keyFile)
		case err == nil && failing:
			c.logger.Info("serving certificate files load again", "certFile", c.certFile)
		}
		failing = err != nil
	}
}
