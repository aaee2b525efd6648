package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/keyutil"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/authn/keyset"
)

// configFile is a file a configuration names.
type configFile struct {
	path *field.Path
	name string
	// check reports what is wrong with the file. The key of a key pair is
	// checked with its certificate.
	check func() field.ErrorList
}

// configFiles lists every file cfg names, set or not. A field that names
// a file and is missing here fails TestConfigFilesCoverEveryPathField.
func configFiles(cfg *v1alpha1.Configuration) []configFile {
	s, sp := &cfg.Server, field.NewPath("server")
	files := keyPair(sp.Child("tlsCertFile"), s.TLSCertFile, sp.Child("tlsPrivateKeyFile"), s.TLSPrivateKeyFile)
	files = append(files, caBundle(sp.Child("clientCAFile"), s.ClientCAFile))
	for i := range cfg.Issuers {
		is, ip := &cfg.Issuers[i], field.NewPath("issuers").Index(i)
		if is.StaticKeys != nil {
			files = append(files, staticKeysFile(ip.Child("staticKeys", "file"), is))
		}
		f, fp := &is.Fetch, ip.Child("fetch")
		files = append(files, caBundle(fp.Child("caFile"), f.CAFile), tokenFile(fp.Child("bearerTokenFile"), f.BearerTokenFile))
		files = append(files, keyPair(fp.Child("clientCertFile"), f.ClientCertFile, fp.Child("clientKeyFile"), f.ClientKeyFile)...)
		if is.Upstream != nil {
			files = append(files, kubeconfigFile(ip.Child("upstream", "kubeconfig"), is.Upstream.Kubeconfig))
		}
	}
	if d := cfg.Callers.Authorization.Delegated; d != nil {
		files = append(files, kubeconfigFile(field.NewPath("callers", "authorization", "delegated", "kubeconfig"), d.Kubeconfig))
	}
	return files
}

// checkConfigFiles checks every file cfg names, as tokenfed serve would
// use it, and reports each problem at the field that names the file.
// Their contents are never printed.
func checkConfigFiles(cfg *v1alpha1.Configuration) field.ErrorList {
	var errs field.ErrorList
	for _, f := range configFiles(cfg) {
		if f.name != "" && f.check != nil {
			errs = append(errs, f.check()...)
		}
	}
	return errs
}

// readFile reads a file the configuration names at p.
func readFile(p *field.Path, name string) ([]byte, *field.Error) {
	data, err := v1alpha1.ReadFile(name)
	if err != nil {
		// The path is the value, already in the message.
		return nil, field.Invalid(p, name, "cannot read it: "+withoutPath(err).Error())
	}
	return data, nil
}

// keyPair is a certificate and its key: each readable, the certificate
// within its validity, the key that of the certificate.
func keyPair(certPath *field.Path, cert string, keyPath *field.Path, key string) []configFile {
	check := func() field.ErrorList {
		var errs field.ErrorList
		certPEM, err := readFile(certPath, cert)
		if err != nil {
			errs = append(errs, err)
		} else if err := checkCertificates(certPath, cert, certPEM, "certificate", false); err != nil {
			errs = append(errs, err)
		}
		if key == "" {
			return errs // validation reports the missing half
		}
		keyPEM, err := readFile(keyPath, key)
		if err != nil {
			return append(errs, err)
		}
		if _, err := keyutil.ParsePrivateKeyPEM(keyPEM); err != nil {
			return append(errs, field.Invalid(keyPath, key, "holds no PEM private key (RSA, ECDSA or Ed25519)"))
		}
		if len(errs) == 0 {
			if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
				errs = append(errs, field.Invalid(keyPath, key, fmt.Sprintf("is not the key of %s: %v", certPath, err)))
			}
		}
		return errs
	}
	keyCheck := func() field.ErrorList {
		if cert != "" {
			return nil // checked with the certificate
		}
		if _, err := readFile(keyPath, key); err != nil {
			return field.ErrorList{err}
		}
		return nil
	}
	return []configFile{{certPath, cert, check}, {keyPath, key, keyCheck}}
}

// caBundle is PEM certificates, at least one of them within its
// validity.
func caBundle(p *field.Path, name string) configFile {
	return configFile{p, name, func() field.ErrorList {
		data, err := readFile(p, name)
		if err != nil {
			return field.ErrorList{err}
		}
		if err := checkCertificates(p, name, data, "CA certificate", true); err != nil {
			return field.ErrorList{err}
		}
		return nil
	}}
}

// checkCertificates: data is PEM certificates, and nothing else. With
// anyValid, one of them must be within its validity (a CA bundle), else
// the first (a chain's leaf).
func checkCertificates(p *field.Path, name string, data []byte, what string, anyValid bool) *field.Error {
	var certs []*x509.Certificate
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			return field.Invalid(p, name, fmt.Sprintf("holds a %s PEM block; it must hold only certificates", block.Type))
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return field.Invalid(p, name, fmt.Sprintf("%s %d: %v", what, len(certs)+1, err))
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return field.Invalid(p, name, "holds no PEM certificate")
	}
	if !anyValid {
		if msg := validity(certs[0], what); msg != "" {
			return field.Invalid(p, name, msg)
		}
		return nil
	}
	var msg string
	for _, c := range certs {
		if msg = validity(c, what); msg == "" {
			return nil
		}
	}
	if len(certs) > 1 {
		msg = "no certificate in it is within its validity; the last: " + msg
	}
	return field.Invalid(p, name, msg)
}

// validity says why c is not valid now, or "".
func validity(c *x509.Certificate, what string) string {
	now := time.Now()
	switch {
	case now.After(c.NotAfter):
		return fmt.Sprintf("%s %q expired at %s", what, c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(c.NotBefore):
		return fmt.Sprintf("%s %q is not valid before %s", what, c.Subject.CommonName, c.NotBefore.UTC().Format(time.RFC3339))
	}
	return ""
}

// tokenFile is a bearer token: readable and not empty. It is never
// printed.
func tokenFile(p *field.Path, name string) configFile {
	return configFile{p, name, func() field.ErrorList {
		data, err := readFile(p, name)
		if err != nil {
			return field.ErrorList{err}
		}
		if len(bytes.TrimSpace(data)) == 0 {
			return field.ErrorList{field.Invalid(p, name, "is empty")}
		}
		return nil
	}}
}

// kubeconfigFile loads as tokenfed serve loads it: with clientcmd, its
// context, cluster and user complete, the files it names readable.
func kubeconfigFile(p *field.Path, name string) configFile {
	return configFile{p, name, func() field.ErrorList {
		if _, err := readFile(p, name); err != nil {
			return field.ErrorList{err}
		}
		if _, err := clientcmd.BuildConfigFromFlags("", name); err != nil {
			msg := strings.TrimPrefix(err.Error(), fmt.Sprintf("error loading config file %q: ", name))
			if clientcmd.IsEmptyConfig(err) {
				// Not the advice to set KUBERNETES_MASTER.
				msg = "has no current context, or it names no cluster"
			}
			return field.ErrorList{field.Invalid(p, name, msg)}
		}
		return nil
	}}
}

// staticKeysFile holds keys the issuer can verify with: read and parsed
// as tokenfed serve does, with the issuer's algorithms.
func staticKeysFile(p *field.Path, is *v1alpha1.Issuer) configFile {
	name := is.StaticKeys.File
	return configFile{p, name, func() field.ErrorList {
		if _, err := readFile(p, name); err != nil {
			return field.ErrorList{err}
		}
		_, err := keyset.New(keyset.Options{IssuerName: is.Name, StaticFile: name, Algorithms: is.Algorithms})
		if err != nil {
			msg := strings.TrimPrefix(err.Error(), "keyset "+is.Name+": ")
			msg = strings.ReplaceAll(msg, " "+name+":", ":") // "parse PATH: ..."
			return field.ErrorList{field.Invalid(p, name, msg)}
		}
		return nil
	}}
}
