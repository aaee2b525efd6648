package controlplane

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
)

// certValidity is long enough for any test run or demo session.
const certValidity = 365 * 24 * time.Hour

// pkiFiles are the PEM files of one control plane's own CA and certificates.
type pkiFiles struct {
	CACert, CAKey           string
	ServingCert, ServingKey string // kube-apiserver, for 127.0.0.1 and localhost
	AdminCert, AdminKey     string // CN=admin, O=system:masters
}

// writePKI creates a fresh CA in dir and issues the serving and admin
// certificates from it. Each control plane gets its own CA so that tests
// notice when a client trusts the wrong cluster.
func writePKI(dir, name string) (pkiFiles, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return pkiFiles{}, fmt.Errorf("create pki directory: %w", err)
	}
	files := pkiFiles{
		CACert: filepath.Join(dir, "ca.crt"), CAKey: filepath.Join(dir, "ca.key"),
		ServingCert: filepath.Join(dir, "apiserver.crt"), ServingKey: filepath.Join(dir, "apiserver.key"),
		AdminCert: filepath.Join(dir, "admin.crt"), AdminKey: filepath.Join(dir, "admin.key"),
	}
	ca, err := devcerts.NewCA("tokenfed-test-ca-"+name, certValidity)
	if err != nil {
		return pkiFiles{}, fmt.Errorf("create CA: %w", err)
	}
	caKey, err := ca.KeyPEM()
	if err != nil {
		return pkiFiles{}, err
	}
	servingCert, servingKey, err := ca.Issue("kube-apiserver", nil, []string{"localhost", "127.0.0.1", "::1"}, certValidity)
	if err != nil {
		return pkiFiles{}, fmt.Errorf("issue serving certificate: %w", err)
	}
	adminCert, adminKey, err := ca.Issue("admin", []string{"system:masters"}, nil, certValidity)
	if err != nil {
		return pkiFiles{}, fmt.Errorf("issue admin certificate: %w", err)
	}
	return files, writeFiles(map[string][]byte{
		files.CACert: ca.CertPEM(), files.CAKey: caKey,
		files.ServingCert: servingCert, files.ServingKey: servingKey,
		files.AdminCert: adminCert, files.AdminKey: adminKey,
	})
}

func writeFiles(files map[string][]byte) error {
	for path, data := range files {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", filepath.Base(path), err)
		}
	}
	return nil
}

func writePrivateKey(path string, key crypto.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(path, "PRIVATE KEY", der)
}

func writePEM(path, blockType string, der []byte) error {
	return writeFiles(map[string][]byte{path: pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})})
}
