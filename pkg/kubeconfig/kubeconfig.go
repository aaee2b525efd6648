// Package kubeconfig builds the kubeconfig a member kube-apiserver reads with
// --authentication-token-webhook-config-file to call tokenfed: the cluster
// is tokenfed (its URL and CA), the user is the member itself (its caller
// certificate, or its caller token file).
//
// Paths and relative paths. kube-apiserver loads the file with client-go's
// clientcmd loading rules (k8s.io/apiserver/pkg/util/webhook.LoadKubeconfig),
// which resolve every relative certificate-authority, client-certificate,
// client-key and tokenFile against the directory of the kubeconfig file
// (clientcmd.ResolveLocalPaths), not against the directory the operator
// typed them in. Build therefore writes every path it references as an
// absolute path of the machine it runs on. It does not resolve symlinks:
// Secret volumes and cert-manager rotate files by swapping a symlink, and a
// resolved path would pin the old file.
//
// Paths or data. By path, client-go re-reads the files: the client
// certificate and key at most once a second, the CA when it changes
// (ClientsAllowCARotation, on by default since 1.36), and a token file
// every minute. A rotated certificate is then used without restarting
// kube-apiserver, but the files must exist at the same paths where
// kube-apiserver runs. Embedded (EmbedCerts), the file is self-contained
// and can be copied anywhere, and a rotation means writing it again and
// restarting kube-apiserver. Embedded certificates are re-encoded from
// their parsed form and the key is its PEM block alone, so nothing else a
// file holds is copied; see readCertificates for what a file may hold.
package kubeconfig

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const (
	// AuthenticatePath is where kube-apiserver's webhook client posts: it
	// sends every TokenReview version to the one server URL, and tokenfed
	// serves this path for all of them, taking the version from the body.
	AuthenticatePath = "/authenticate"
	// DefaultName names the cluster, the user and the context.
	DefaultName = "tokenfed"
)

// Options describe a webhook kubeconfig. Errors name each option by its
// flag (see AddFlags), which is also how `tokenfed webhook-kubeconfig`
// spells it.
type Options struct {
	// Server is tokenfed's URL; it must be https. A URL without a path
	// (or with "/") gets AuthenticatePath; any other path is kept as is.
	Server string
	// CertificateAuthority is a PEM file of the CA certificates that
	// verify tokenfed's serving certificate. Empty means the system roots
	// of the machine kube-apiserver runs on.
	CertificateAuthority string
	// TLSServerName, if set, is the name tokenfed's serving certificate is
	// verified against instead of Server's host, e.g. when the member
	// reaches tokenfed by an address the certificate does not name.
	TLSServerName string
	// ClientCertificate and ClientKey are the member's caller certificate
	// (signed by tokenfed's server.clientCAFile) and its key. Both or
	// neither.
	ClientCertificate, ClientKey string
	// CallerTokenFile is the member's caller token, the alternative to a
	// certificate: a token of an issuer in tokenfed's callers.tokens,
	// minted for tokenfed's audience. It is always referenced by path,
	// even with EmbedCerts, because client-go re-reads it every minute and
	// a short-lived token copied into the file would stop working when it
	// expires.
	CallerTokenFile string
	// EmbedCerts puts the contents of CertificateAuthority,
	// ClientCertificate and ClientKey in the kubeconfig instead of their
	// paths: the certificates re-encoded from their parsed form, and the
	// private key block alone. With it, the certificate files must hold
	// nothing but PEM CERTIFICATE blocks, blank lines and "#" comments.
	EmbedCerts bool
	// Name names the cluster, the user and the context. Default
	// DefaultName.
	Name string
}

// HasCredential reports whether the member would present a caller
// credential. tokenfed answers a caller without one with 401, unless its
// config sets callers.allowAnonymous.
func (o Options) HasCredential() bool {
	return o.ClientCertificate != "" || o.CallerTokenFile != ""
}

// Build validates o, reads and checks the files it names, and returns the
// kubeconfig.
func Build(o Options) (*clientcmdapi.Config, error) {
	if o.Name == "" {
		o.Name = DefaultName
	}
	server, err := webhookURL(o.Server)
	if err != nil {
		return nil, err
	}
	if err := o.validateCredentials(); err != nil {
		return nil, err
	}
	cluster, err := o.cluster(server)
	if err != nil {
		return nil, err
	}
	user, err := o.user()
	if err != nil {
		return nil, err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[o.Name] = cluster
	cfg.AuthInfos[o.Name] = user
	cfg.Contexts[o.Name] = &clientcmdapi.Context{Cluster: o.Name, AuthInfo: o.Name}
	cfg.CurrentContext = o.Name
	return cfg, nil
}

// Generate is Build, encoded as kubeconfig YAML.
func Generate(o Options) ([]byte, error) {
	cfg, err := Build(o)
	if err != nil {
		return nil, err
	}
	return clientcmd.Write(*cfg)
}

// webhookURL checks tokenfed's URL and gives it AuthenticatePath when it
// has no path of its own.
//
// Its errors never repeat the URL, nor any part of it: user information
// holds a password, a query may hold a token, and a URL that does not
// parse may not split where its grammar says (in
// "https://admin:pass/word@host" the host is "admin" and the "port"
// ":pass", which url.Parse's own error quotes).
func webhookURL(server string) (string, error) {
	if server == "" {
		return "", fmt.Errorf("--%s is required", flagServer)
	}
	// User information first, before parsing: no other check may be the
	// one that fails on a URL that holds a password. Any "@" counts: with
	// a "/", "?" or "#" in the password, url.Parse puts the user
	// information in the path, query or fragment instead, and tokenfed's
	// paths have no "@".
	if strings.Contains(server, "@") {
		return "", fmt.Errorf("--%s: want no user information (no \"@\") in the URL; use --%s or --%s", flagServer, flagClientCertificate, flagCallerTokenFile)
	}
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("--%s is not a URL (it is not repeated here, as it may hold a secret)", flagServer)
	}
	switch {
	case u.User != nil:
		return "", fmt.Errorf("--%s: want no user information in the URL; use --%s or --%s", flagServer, flagClientCertificate, flagCallerTokenFile)
	case u.Scheme != "https":
		return "", fmt.Errorf("--%s: want an https:// URL: the member sends tokens to it", flagServer)
	case u.Host == "":
		return "", fmt.Errorf("--%s: want a host", flagServer)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "", fmt.Errorf("--%s: want no query or fragment", flagServer)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = AuthenticatePath
	}
	return u.String(), nil
}

func (o Options) validateCredentials() error {
	if (o.ClientCertificate == "") != (o.ClientKey == "") {
		return fmt.Errorf("--%s and --%s must be set together", flagClientCertificate, flagClientKey)
	}
	if o.ClientCertificate != "" && o.CallerTokenFile != "" {
		return fmt.Errorf("--%s and --%s: want one caller credential, not both", flagClientCertificate, flagCallerTokenFile)
	}
	return nil
}

func (o Options) cluster(server string) (*clientcmdapi.Cluster, error) {
	c := &clientcmdapi.Cluster{Server: server, TLSServerName: o.TLSServerName}
	if o.CertificateAuthority == "" {
		return c, nil
	}
	data, err := readCertificates(flagCertificateAuthority, o.CertificateAuthority, o.EmbedCerts)
	if err != nil {
		return nil, err
	}
	if o.EmbedCerts {
		c.CertificateAuthorityData = data
		return c, nil
	}
	c.CertificateAuthority, err = absolute(flagCertificateAuthority, o.CertificateAuthority)
	return c, err
}

func (o Options) user() (*clientcmdapi.AuthInfo, error) {
	u := &clientcmdapi.AuthInfo{}
	var err error
	if o.CallerTokenFile != "" {
		if err = checkTokenFile(o.CallerTokenFile); err != nil {
			return nil, err
		}
		u.TokenFile, err = absolute(flagCallerTokenFile, o.CallerTokenFile)
		return u, err
	}
	if o.ClientCertificate == "" {
		return u, nil
	}
	cert, key, err := readKeyPair(o.ClientCertificate, o.ClientKey, o.EmbedCerts)
	if err != nil {
		return nil, err
	}
	if o.EmbedCerts {
		u.ClientCertificateData, u.ClientKeyData = cert, key
		return u, nil
	}
	if u.ClientCertificate, err = absolute(flagClientCertificate, o.ClientCertificate); err != nil {
		return nil, err
	}
	u.ClientKey, err = absolute(flagClientKey, o.ClientKey)
	return u, err
}

// absolute makes path absolute against the working directory; see the
// package comment for why, and why symlinks stay.
func absolute(flag, path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("--%s %q: %w", flag, path, err)
	}
	return abs, nil
}
