package controlplane

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
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
	ca, caKey, err := issue(caTemplate(name), nil, nil, files.CACert, files.CAKey)
	if err != nil {
		return pkiFiles{}, fmt.Errorf("create CA: %w", err)
	}
	if _, _, err := issue(servingTemplate(), ca, caKey, files.ServingCert, files.ServingKey); err != nil {
		return pkiFiles{}, fmt.Errorf("issue serving certificate: %w", err)
	}
	if _, _, err := issue(clientTemplate("admin", "system:masters"), ca, caKey, files.AdminCert, files.AdminKey); err != nil {
		return pkiFiles{}, fmt.Errorf("issue admin certificate: %w", err)
	}
	return files, nil
}

func caTemplate(name string) *x509.Certificate {
	t := baseTemplate("tokenfed-test-ca-" + name)
	t.IsCA = true
	t.BasicConstraintsValid = true
	t.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	return t
}

func servingTemplate() *x509.Certificate {
	t := baseTemplate("kube-apiserver")
	t.DNSNames = []string{"localhost"}
	t.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	t.KeyUsage = x509.KeyUsageDigitalSignature
	t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	return t
}

func clientTemplate(user string, groups ...string) *x509.Certificate {
	t := baseTemplate(user)
	t.Subject.Organization = groups
	t.KeyUsage = x509.KeyUsageDigitalSignature
	t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return t
}

func baseTemplate(cn string) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		// Backdated so that small clock differences never make it "not yet valid".
		NotBefore: now.Add(-time.Hour),
		NotAfter:  now.Add(certValidity),
	}
}

// issue creates a P-256 key and a certificate for tmpl signed by parent
// (self-signed when parent is nil) and writes both as PEM files.
func issue(tmpl, parent *x509.Certificate, parentKey crypto.Signer, certPath, keyPath string) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	if err := writePEM(certPath, "CERTIFICATE", der); err != nil {
		return nil, nil, err
	}
	if err := writePrivateKey(keyPath, key); err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

func writePrivateKey(path string, key crypto.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(path, "PRIVATE KEY", der)
}

func writePEM(path, blockType string, der []byte) error {
	data := pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}
