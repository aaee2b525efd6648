package devcerts

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
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

// Files are the paths Write creates.
type Files struct {
	CACert, CAKey           string
	ServingCert, ServingKey string
	ClientCert, ClientKey   string
}

// Paths returns where Write puts the files in dir.
func Paths(dir string) Files {
	p := func(name string) string { return filepath.Join(dir, name) }
	return Files{
		CACert: p("ca.crt"), CAKey: p("ca.key"),
		ServingCert: p("tls.crt"), ServingKey: p("tls.key"),
		ClientCert: p("client.crt"), ClientKey: p("client.key"),
	}
}

// CA is a signing CA held in memory.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewCA returns a self-signed CA valid for validity.
// LoadCA reads the CA of f (f.CACert, f.CAKey) back, to issue more
// certificates from it.
func LoadCA(f Files) (*CA, error) {
	pair, err := tls.LoadX509KeyPair(f.CACert, f.CAKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, err
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("CA key %s cannot sign", f.CAKey)
	}
	return &CA{Cert: cert, Key: signer}, nil
}

func NewCA(commonName string, validity time.Duration) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := template(commonName, validity)
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return &CA{Cert: cert, Key: key}, err
}

// Issue signs a leaf certificate. Hosts become DNS or IP SANs; an empty
// hosts list makes a client certificate with organization orgs.
func (ca *CA) Issue(commonName string, orgs, hosts []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := template(commonName, validity)
	tmpl.Subject.Organization = orgs
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if len(hosts) > 0 {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		addHosts(tmpl, hosts)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = encodeKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, err
}

// CertPEM is the CA certificate in PEM.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// KeyPEM is the CA key in PEM.
func (ca *CA) KeyPEM() ([]byte, error) { return encodeKey(ca.Key) }

// Write creates a CA, a localhost serving pair and a client pair in dir.
func Write(dir string) (Files, error) {
	f := Paths(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return f, err
	}
	ca, err := NewCA("tokenfed-dev-ca", 365*24*time.Hour)
	if err != nil {
		return f, err
	}
	caKey, err := ca.KeyPEM()
	if err != nil {
		return f, err
	}
	servingCert, servingKey, err := ca.Issue("tokenfed", nil, []string{"localhost", "127.0.0.1", "::1"}, 365*24*time.Hour)
	if err != nil {
		return f, err
	}
	clientCert, clientKey, err := ca.Issue("kube-apiserver", []string{"tokenfed:callers"}, nil, 365*24*time.Hour)
	if err != nil {
		return f, err
	}
	return f, writeAll(map[string][]byte{
		f.CACert: ca.CertPEM(), f.CAKey: caKey,
		f.ServingCert: servingCert, f.ServingKey: servingKey,
		f.ClientCert: clientCert, f.ClientKey: clientKey,
	})
}

func writeAll(files map[string][]byte) error {
	for path, data := range files {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return nil
}

func template(cn string, validity time.Duration) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour), // tolerate small clock skew
		NotAfter:     now.Add(validity),
	}
}

func addHosts(tmpl *x509.Certificate, hosts []string) {
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
