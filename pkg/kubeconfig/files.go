package kubeconfig

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// The errors below name files, PEM block types and line numbers, never what
// a file holds: a key or a token must not end up in a terminal or a CI log.

// keyMarker is in the BEGIN line of every PEM private key (PKCS #1, #8,
// SEC 1, encrypted PKCS #8, OpenSSH, PGP's PRIVATE KEY BLOCK).
const keyMarker = "PRIVATE KEY"

// readCertificates reads a PEM file that must hold certificates and
// nothing else, and returns them re-encoded from the parsed certificates:
// with EmbedCerts this, and only this, is copied into the part of the
// kubeconfig nobody treats as secret.
//
// pem.Decode skips whatever is not a well-formed PEM block, so checking
// the blocks it finds is not enough: a key block indented by two spaces
// (pasted from YAML), or one whose base64 is damaged, is skipped, and
// would be copied with the file. So a file is refused when:
//   - it holds "PRIVATE KEY" anywhere, in a block or not;
//   - a PEM boundary line ("-----BEGIN", "-----END") is not part of a
//     well-formed block (indented, damaged, cut short);
//   - a block is not a CERTIFICATE, or does not parse as one;
//   - strict (EmbedCerts) and there is anything outside the blocks but
//     blank lines and "#" comments, or a block has headers: what is not
//     understood is not vouched for. By path, client-go reads the file
//     itself, and the text `openssl x509 -text` writes before a block is
//     allowed.
func readCertificates(flag, path string, strict bool) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flag, err)
	}
	if i := bytes.Index(data, []byte(keyMarker)); i >= 0 {
		return nil, fmt.Errorf("--%s %q: line %d holds key material (%q); want only CERTIFICATE blocks: a private key never goes where a certificate belongs", flag, path, lineOf(data, i), keyMarker)
	}
	var out bytes.Buffer
	n := 0
	for rest := data; ; {
		block, after := pem.Decode(rest)
		if block == nil {
			if err := checkBetween(flag, path, data, rest, strict); err != nil {
				return nil, err
			}
			break
		}
		consumed := rest[:len(rest)-len(after)]
		// A well-formed block's BEGIN line starts a line, and its body
		// holds no other BEGIN line: the last one in consumed is its own.
		start := bytes.LastIndex(consumed, []byte("-----BEGIN "+block.Type+"-----"))
		if err := checkBetween(flag, path, data, consumed[:start], strict); err != nil {
			return nil, err
		}
		n++
		offset := len(data) - len(rest) + start
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("--%s %q: line %d: found a PEM block of type %q, want only CERTIFICATE blocks", flag, path, lineOf(data, offset), block.Type)
		}
		if strict && len(block.Headers) > 0 {
			return nil, fmt.Errorf("--%s %q: certificate %d (line %d) has PEM headers; --%s copies only certificates", flag, path, n, lineOf(data, offset), flagEmbedCerts)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("--%s %q: certificate %d (line %d): %w", flag, path, n, lineOf(data, offset), err)
		}
		// ParseCertificate refuses trailing data, so Raw is all the block
		// held; written anew, without headers or anything around it.
		if err := pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}); err != nil {
			return nil, fmt.Errorf("--%s %q: certificate %d: %w", flag, path, n, err)
		}
		rest = after
	}
	if n == 0 {
		return nil, fmt.Errorf("--%s %q: no PEM certificate found", flag, path)
	}
	return out.Bytes(), nil
}

// checkBetween checks text outside the PEM blocks of data (a part of it):
// never a PEM boundary line, and, when strict, only blank lines and "#"
// comments.
func checkBetween(flag, path string, data, text []byte, strict bool) error {
	base := len(data) - len(text)
	for i := 0; i < len(text); {
		end := bytes.IndexByte(text[i:], '\n')
		if end < 0 {
			end = len(text)
		} else {
			end += i
		}
		line := strings.TrimSpace(string(text[i:end]))
		switch {
		case strings.Contains(line, "-----BEGIN") || strings.Contains(line, "-----END"):
			return fmt.Errorf("--%s %q: line %d: a PEM block that is not well-formed (indented, damaged or cut short); want only well-formed CERTIFICATE blocks", flag, path, lineOf(data, base+i))
		case strict && line != "" && !strings.HasPrefix(line, "#"):
			return fmt.Errorf("--%s %q: line %d: text that is not a certificate or a # comment; --%s copies only certificates: keep just the PEM blocks (e.g. with openssl x509)", flag, path, lineOf(data, base+i), flagEmbedCerts)
		}
		i = end + 1
	}
	return nil
}

// lineOf is the 1-based line of data at offset.
func lineOf(data []byte, offset int) int {
	return bytes.Count(data[:offset], []byte("\n")) + 1
}

// readKeyPair reads the caller certificate and its key and checks that
// they belong together, as kube-apiserver's client will when it first
// connects. It returns them re-encoded: the certificates as
// readCertificates does, and the key block tls.X509KeyPair used, alone.
func readKeyPair(certPath, keyPath string, strict bool) (cert, key []byte, err error) {
	if cert, err = readCertificates(flagClientCertificate, certPath, strict); err != nil {
		return nil, nil, err
	}
	raw, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("--%s: %w", flagClientKey, err)
	}
	block := privateKeyBlock(raw)
	if block == nil {
		return nil, nil, fmt.Errorf("--%s %q: no PEM private key found", flagClientKey, keyPath)
	}
	key = pem.EncodeToMemory(&pem.Block{Type: block.Type, Headers: block.Headers, Bytes: block.Bytes})
	// crypto/tls names PEM block types in its errors, never their bytes.
	if _, err := tls.X509KeyPair(cert, key); err != nil {
		return nil, nil, fmt.Errorf("--%s %q and --%s %q are not a pair: %w", flagClientCertificate, certPath, flagClientKey, keyPath, err)
	}
	return cert, key, nil
}

// privateKeyBlock is the first PEM block of data whose type ends in
// "PRIVATE KEY", the one tls.X509KeyPair takes; nil if none.
func privateKeyBlock(data []byte) *pem.Block {
	for {
		var block *pem.Block
		if block, data = pem.Decode(data); block == nil {
			return nil
		}
		if strings.HasSuffix(block.Type, keyMarker) {
			return block
		}
	}
}

// checkTokenFile checks that the token file can be read and is not empty.
// What the token is, only tokenfed can tell. An error reading it does not
// repeat the path: a token typed where its file belongs
// (--caller-token-file $TOKEN) must not be printed as the file that does
// not exist.
func checkTokenFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("--%s: cannot read it: %w", flagCallerTokenFile, err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("--%s %q is empty", flagCallerTokenFile, path)
	}
	return nil
}
