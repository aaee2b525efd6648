package kubeconfig

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
)

// The errors below name files and PEM block types, never what a file
// holds: a key or a token must not end up in a terminal or a CI log.

// readCertificates reads a PEM file that must hold certificates and
// nothing else. A private key where a certificate belongs would, with
// EmbedCerts, be copied into the part of the kubeconfig nobody treats as
// secret.
func readCertificates(flag, path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flag, err)
	}
	n := 0
	for rest := data; ; n++ {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("--%s %q: found a PEM block of type %q, want only CERTIFICATE blocks", flag, path, block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return nil, fmt.Errorf("--%s %q: certificate %d: %w", flag, path, n+1, err)
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("--%s %q: no PEM certificate found", flag, path)
	}
	return data, nil
}

// readKeyPair reads the caller certificate and its key and checks that
// they belong together, as kube-apiserver's client will when it first
// connects.
func readKeyPair(certPath, keyPath string) (cert, key []byte, err error) {
	if cert, err = readCertificates(flagClientCertificate, certPath); err != nil {
		return nil, nil, err
	}
	if key, err = os.ReadFile(keyPath); err != nil {
		return nil, nil, fmt.Errorf("--%s: %w", flagClientKey, err)
	}
	if !hasPrivateKeyBlock(key) {
		return nil, nil, fmt.Errorf("--%s %q: no PEM private key found", flagClientKey, keyPath)
	}
	// crypto/tls names PEM block types in its errors, never their bytes.
	if _, err := tls.X509KeyPair(cert, key); err != nil {
		return nil, nil, fmt.Errorf("--%s %q and --%s %q are not a pair: %w", flagClientCertificate, certPath, flagClientKey, keyPath, err)
	}
	return cert, key, nil
}

func hasPrivateKeyBlock(data []byte) bool {
	for {
		var block *pem.Block
		if block, data = pem.Decode(data); block == nil {
			return false
		}
		if strings.HasSuffix(block.Type, "PRIVATE KEY") {
			return true
		}
	}
}

// checkTokenFile checks that the token file can be read and is not empty.
// What the token is, only tokenfed can tell.
func checkTokenFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--%s: %w", flagCallerTokenFile, err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("--%s %q is empty", flagCallerTokenFile, path)
	}
	return nil
}
