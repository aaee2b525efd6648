package controlplane

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/util/keyutil"
)

// signingKeyBits is the size of generated service-account signing keys:
// the same as kubeadm's, so signature costs match real clusters.
const signingKeyBits = 2048

// NewSigningKeyFile writes a new RSA-2048 private key (PKCS#8 PEM) into dir
// and returns its path. Tests use it to rotate a control plane's
// service-account signing key with Restart.
func NewSigningKeyFile(dir string) (string, error) {
	key, err := rsa.GenerateKey(rand.Reader, signingKeyBits)
	if err != nil {
		return "", fmt.Errorf("generate signing key: %w", err)
	}
	f, err := os.CreateTemp(dir, "sa-signing-*.key")
	if err != nil {
		return "", fmt.Errorf("create signing key file: %w", err)
	}
	path := f.Name()
	f.Close()
	if err := writePrivateKey(path, key); err != nil {
		return "", err
	}
	return path, nil
}

// writePublicKey writes the public half of the private key in keyFile to
// dir, named after the key's fingerprint so that every key a control plane
// has used keeps its own file across restarts (rotation tests need the old
// one), and returns its path.
func writePublicKey(keyFile, dir string) (string, error) {
	key, err := keyutil.PrivateKeyFromFile(keyFile)
	if err != nil {
		return "", fmt.Errorf("read signing key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return "", fmt.Errorf("signing key %s: unsupported key type %T", keyFile, key)
	}
	der, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		return "", fmt.Errorf("encode public key of %s: %w", keyFile, err)
	}
	sum := sha256.Sum256(der)
	path := filepath.Join(dir, "sa-"+hex.EncodeToString(sum[:6])+".pub")
	if err := writePEM(path, "PUBLIC KEY", der); err != nil {
		return "", err
	}
	return path, nil
}
