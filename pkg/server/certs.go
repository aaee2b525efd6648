package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
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

	// mu guards sync: servedCert and servedKey are current's PEM, refused
	// the certificate last kept out for its validity (logged once).
	mu                             sync.Mutex
	servedCert, servedKey, refused []byte
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

// Enqueue is dynamiccertificates.Listener's: the content changed.
func (c *servingCert) Enqueue() { c.sync(time.Now()) }

// sync serves the content's pair if it is new. The content only ever
// changes to a pair that parsed and matches, so the parse here fails only
// if the library broke that promise. A pair outside its validity does not
// replace one within it: every TLS client would refuse it, while the
// current pair still works. It is looked at again at every poll, so a
// pair that was not valid yet (the issuer's clock a little ahead) is
// served once it is.
func (c *servingCert) sync(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	certPEM, keyPEM := c.content.CurrentCertKeyContent()
	if bytes.Equal(certPEM, c.servedCert) && bytes.Equal(keyPEM, c.servedKey) {
		return
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err == nil && cert.Leaf == nil { // nil only with GODEBUG=x509keypairleaf=0
		cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0])
	}
	if err != nil {
		c.logger.Error(err, "serving certificate not swapped in", "certFile", c.certFile)
		return
	}
	cur := c.current.Load()
	if cur != nil {
		if why := outsideValidity(cert.Leaf, now); why != "" && outsideValidity(cur.Leaf, now) == "" {
			if !bytes.Equal(certPEM, c.refused) {
				c.refused = certPEM
				c.logger.Error(errors.New(why), "serving certificate files hold a certificate outside its validity; still serving the current one, which is within it", "certFile", c.certFile, "serial", cert.Leaf.SerialNumber, "servedNotAfter", cur.Leaf.NotAfter)
			}
			return
		}
	}
	c.current.Store(&cert)
	c.servedCert, c.servedKey, c.refused = certPEM, keyPEM, nil
	if cur == nil {
		return // the first load, which Run reports by serving
	}
	c.logger.Info("serving certificate reloaded", "certFile", c.certFile, "serial", cert.Leaf.SerialNumber, "notAfter", cert.Leaf.NotAfter)
}

// outsideValidity says why leaf is not valid at now, or "".
func outsideValidity(leaf *x509.Certificate, now time.Time) string {
	switch {
	case now.After(leaf.NotAfter):
		return "certificate expired at " + leaf.NotAfter.UTC().Format(time.RFC3339)
	case now.Before(leaf.NotBefore):
		return "certificate not valid before " + leaf.NotBefore.UTC().Format(time.RFC3339)
	}
	return ""
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
		c.sync(time.Now())
		switch {
		case err != nil && !failing:
			c.logger.Error(err, "serving certificate files do not load; still serving the last pair that did", "certFile", c.certFile, "keyFile", c.keyFile)
		case err == nil && failing:
			c.logger.Info("serving certificate files load again", "certFile", c.certFile)
		}
		failing = err != nil
	}
}
